"""The Dramatiq broker on REDIS_URL, set up once; import this module before any actor."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from mass_mailer.logging_config import configure_from_settings
from mass_mailer.services.coordination import Heartbeat
from mass_mailer.services.sending import STOPPING
from mass_mailer.settings import get_settings


class StopBatchesOnShutdown(Middleware):
    """On worker shutdown, running batches finish their current send, then hand their work over."""

    def before_worker_shutdown(self, broker, worker) -> None:  # noqa: ARG002 - middleware hook signature
        STOPPING.set()


class WorkerHeartbeat(Middleware):
    """Each worker process keeps a heartbeat in Redis and tags its claims with its id, so that the scheduler notices
    a worker process that died within seconds (its sends under way become delivery_unknown, its pairs are covered
    again at once) instead of after LEASE_SECONDS."""

    heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker, worker) -> None:  # noqa: ARG002 - middleware hook signature
        self.heartbeat = Heartbeat().start()

    def after_worker_shutdown(self, broker, worker) -> None:  # noqa: ARG002 - middleware hook signature
        if self.heartbeat is not None:
            self.heartbeat.close()


class ConfigureLogging(Middleware):
    """Each worker process Dramatiq starts logs like every other process: LOG_FORMAT, secrets redacted."""

    def after_process_boot(self, broker) -> None:  # noqa: ARG002 - middleware hook signature
        configure_from_settings()


def _broker() -> RedisBroker:
    settings = get_settings()
    settings.require_serving()
    # A dead worker's unacknowledged messages come back after 30 s (the scheduler covers the rest).
    redis_broker = RedisBroker(url=settings.redis_url, heartbeat_timeout=30_000)
    redis_broker.add_middleware(StopBatchesOnShutdown())
    redis_broker.add_middleware(ConfigureLogging())
    redis_broker.add_middleware(WorkerHeartbeat())
    return redis_broker


broker = _broker()
dramatiq.set_broker(broker)

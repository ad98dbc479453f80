"""The Dramatiq broker on REDIS_URL, set up once; import this module before any actor."""

from __future__ import annotations

import signal
import threading

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


class OneStopSignal(Middleware):
    """A worker process stops gracefully on its first SIGTERM and ignores the ones after it.

    A stop usually reaches a worker process twice: once from whoever signals the whole process group or tree (a
    terminal, `kill -- -PGID`, PM2's tree kill) and once forwarded by Dramatiq's main process. Dramatiq's own handler
    exits at the second one ("Killing worker process"), cutting sends under way; here the second is ignored, so the
    send in progress settles and the rest is handed over. A forced stop is SIGKILL (PM2's kill_timeout, docker's
    stop timeout), or Dramatiq's --worker-shutdown-timeout."""

    def after_process_boot(self, broker) -> None:  # noqa: ARG002 - middleware hook signature
        dramatiq_handler = signal.getsignal(signal.SIGTERM)
        if not callable(dramatiq_handler):
            return
        stopping = threading.Event()

        def on_term(signum, frame) -> None:
            if not stopping.is_set():
                stopping.set()
                dramatiq_handler(signum, frame)

        signal.signal(signal.SIGTERM, on_term)


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
    redis_broker.add_middleware(OneStopSignal())
    return redis_broker


broker = _broker()
dramatiq.set_broker(broker)

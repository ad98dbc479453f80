"""The system at a glance, for admins: processes alive, the queue, sends and errors of the last hour."""

from __future__ import annotations

from pydantic import BaseModel

from mass_mailer.db import database_ok
from mass_mailer.services import metrics
from mass_mailer.services.coordination import Liveness


class SystemStatus(BaseModel):
    database: bool
    redis: bool
    worker_processes: int | None  # alive, all hosts (None: Redis does not answer)
    schedulers: int | None
    queue_depth: int | None  # batches waiting in the task queue
    sends_last_hour: int | None
    errors_last_hour: int | None  # failed and delivery unknown
    retries_last_hour: int | None


def system_status() -> SystemStatus:
    """What the Admin page's system panel shows; a dependency that does not answer shows as down."""
    database = database_ok()
    try:
        alive = Liveness.read()
        sends = metrics.sends_last_hour()
        depth = metrics.queue_depth()
    except Exception:  # noqa: BLE001 - Redis away: the panel says so instead of failing
        return SystemStatus(database=database, redis=False, worker_processes=None, schedulers=None,
                            queue_depth=None, sends_last_hour=None, errors_last_hour=None, retries_last_hour=None)
    return SystemStatus(database=database, redis=True, worker_processes=len(alive.workers),
                        schedulers=len(alive.schedulers), queue_depth=depth, sends_last_hour=sends["sent"],
                        errors_last_hour=sends["failed"] + sends["delivery_unknown"],
                        retries_last_hour=sends["retried"])

"""Periodic duties: recover stranded claims, bring rested senders back, start and re-plan jobs, finish them."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from sqlalchemy import text
from sqlmodel import Session, select

from mass_mailer.db import get_engine
from mass_mailer.models import EmailJob, JobStatus, User
from mass_mailer.redis_client import get_redis
from mass_mailer.services.jobs import ACTIVE, WAKE_KEY, cancel_active_jobs_of_user
from mass_mailer.services.planner import Enqueue, dispatch_job
from mass_mailer.services.sending import DELIVERY_UNKNOWN, FINISH_SQL, project_paused
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)

LOCK_KEY = "mm:scheduler:lock"
RECONCILE_EVERY = 60.0

# A claim whose lease expired belonged to a worker that died during the send: Gmail may have delivered it,
# so it is failed (never retried: a retry could deliver twice). Unclaimed work is untouched and stays pending.
_RECOVER_SQL = text("""
    WITH r AS (UPDATE email_recipients SET status = 'failed', error_message = :reason, lease_expires_at = NULL,
                                           settled_at = now()
               WHERE status = 'sending' AND lease_expires_at < now() RETURNING job_id)
    UPDATE email_jobs j SET failed_count = j.failed_count + c.n, updated_at = now()
    FROM (SELECT job_id, count(*) AS n FROM r GROUP BY job_id) c WHERE j.id = c.job_id
""")
# Rows a settle put back to pending while their job was being cancelled or failed: nothing will claim them.
# Such a settle lands within one send of the job stopping, so only recently stopped jobs are looked at.
_ORPHANS_SQL = text("""
    UPDATE email_recipients r
    SET status = CASE j.status WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END,
        error_message = coalesce(r.error_message, j.error_message, 'the job stopped before this recipient was sent'),
        settled_at = now(), next_attempt_at = NULL
    FROM email_jobs j
    WHERE r.job_id = j.id AND r.status = 'pending' AND j.status IN ('cancelled', 'failed')
      AND j.finished_at > now() - interval '1 hour'
""")
_RESTED_SQL = text("""
    UPDATE senders SET status = 'active', quota_reset_at = NULL, updated_at = now()
    WHERE status = 'quota_exhausted' AND deleted_at IS NULL AND quota_reset_at <= now()
""")
_RECONCILE_SQL = text("""
    UPDATE email_jobs j SET sent_count = c.sent, failed_count = c.failed
    FROM (SELECT job_id, count(*) FILTER (WHERE status = 'sent') AS sent,
                 count(*) FILTER (WHERE status = 'failed') AS failed
          FROM email_recipients WHERE job_id IN (SELECT id FROM email_jobs WHERE status = 'in_progress')
          GROUP BY job_id) c
    WHERE j.id = c.job_id AND (j.sent_count, j.failed_count) IS DISTINCT FROM (c.sent, c.failed)
""")


def tick(*, enqueue: Enqueue, reconcile: bool = False) -> None:
    """One round of every duty."""
    with Session(get_engine(), expire_on_commit=False) as session:
        recovered = session.execute(_RECOVER_SQL, {"reason": DELIVERY_UNKNOWN}).rowcount
        rested = session.execute(_RESTED_SQL).rowcount
        session.execute(_ORPHANS_SQL)
        if reconcile:
            session.execute(_RECONCILE_SQL)
        session.commit()
        if recovered or rested:
            log.info("stranded claims failed as delivery unknown in %s job(s); %s sender(s) back from quota rest",
                     recovered, rested)
        _cancel_jobs_of_inactive_owners(session)
        if project_paused():
            return
        active = list(session.exec(select(EmailJob.id).where(
            EmailJob.status.in_([JobStatus.QUEUED.value, JobStatus.IN_PROGRESS.value])).order_by(EmailJob.id)))
        for job_id in active:
            dispatch_job(session=session, job_id=job_id, enqueue=enqueue)
            session.execute(FINISH_SQL, {"job_id": job_id})
            session.commit()


def _cancel_jobs_of_inactive_owners(session: Session) -> None:
    """Finish a deactivation whose own cancelling did not happen (e.g. the web process stopped in between): the
    claim already sends nothing for such a job; this ends it, its unsent recipients becoming cancelled."""
    owners = session.exec(select(EmailJob.user_id).join(User, User.id == EmailJob.user_id).where(
        EmailJob.status.in_([s.value for s in ACTIVE]), User.is_active.is_(False)).distinct()).all()
    for user_id in owners:
        cancelled = cancel_active_jobs_of_user(session=session, user_id=user_id, reason="user deactivated")
        log.info("cancelled %s job(s) of deactivated user %s", cancelled, user_id)


def run(*, enqueue: Enqueue, stop: threading.Event) -> None:
    """Tick every SCHEDULER_INTERVAL_SECONDS (or at once when a job is created) while holding the lock."""
    interval = get_settings().scheduler_interval_seconds
    redis, me = get_redis(), uuid.uuid4().hex
    last_reconcile = 0.0
    while not stop.is_set():
        if _hold_lock(redis, me, ttl=max(10, int(interval * 5))):
            reconcile = time.monotonic() - last_reconcile > RECONCILE_EVERY
            try:
                tick(enqueue=enqueue, reconcile=reconcile)
                last_reconcile = time.monotonic() if reconcile else last_reconcile
            except Exception:  # noqa: BLE001 - one bad round must not stop the scheduler
                log.exception("scheduler round failed")
        redis.blpop([WAKE_KEY], timeout=max(1, int(interval)))
        redis.delete(WAKE_KEY)


_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
"""


def _hold_lock(redis, me: str, ttl: int) -> bool:
    """Take or keep the scheduler lock, so that two schedulers never work at once."""
    return bool(redis.eval(_RENEW_LUA, 1, LOCK_KEY, me, ttl))

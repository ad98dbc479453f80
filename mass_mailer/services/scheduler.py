"""Periodic duties: recover stranded claims, bring rested senders back, start scheduled jobs, cover jobs with
batches, complete them. The state changes themselves are the lifecycle's (services/lifecycle.py)."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from sqlalchemy import text
from sqlmodel import Session, select

from mass_mailer.db import get_engine
from mass_mailer.models import EmailJob, User, utcnow
from mass_mailer.redis_client import get_redis
from mass_mailer.services import lifecycle
from mass_mailer.services.coordination import (SCHEDULER_LOCK_KEY, WAKE_KEY, WorkerWatch, beat_scheduler,
                                              project_paused, scheduler_alive_key)
from mass_mailer.services.jobs import cancel_active_jobs_of_user
from mass_mailer.services.planner import Enqueue, dispatch_job
from mass_mailer.services.quota import WARMUP_RAMP, effective_quota, warmup_step
from mass_mailer.settings import get_settings

log = logging.getLogger(__name__)

RECONCILE_EVERY = 60.0
# The jobs the engine works on, oldest first.
_ENGINE_JOBS = text(f"SELECT id FROM email_jobs WHERE status IN ({lifecycle.sql_list(lifecycle.JOB_ENGINE)}) ORDER BY id")


_WARMING_SQL = text("SELECT id, warmup_step, last_sent_date, daily_quota FROM senders "
                    "WHERE warmup AND deleted_at IS NULL")


class WarmupLog:
    """Logs a warming-up sender's move to its next step once (the step itself moves as its sends settle)."""

    def __init__(self) -> None:
        self.steps: dict[int, int | None] = {}

    def note(self, session: Session) -> None:
        today = utcnow().date()
        for sender_id, stored, last_sent, daily_quota in session.execute(_WARMING_SQL):
            step = warmup_step(warmup=True, step=stored, last_sent_date=last_sent, today=today)
            if sender_id in self.steps and self.steps[sender_id] != step:
                quota = effective_quota(daily_quota=daily_quota, warmup=True, step=stored, last_sent_date=last_sent,
                                        today=today)
                if step is None:
                    log.info("sender %s finished its warm-up: its own daily quota (%s) from now on", sender_id, quota)
                else:
                    log.info("sender %s is on warm-up step %s of %s: %s a day", sender_id, step + 1,
                             len(WARMUP_RAMP), quota)
            self.steps[sender_id] = step


def tick(*, enqueue: Enqueue, reconcile: bool = False, watch: WorkerWatch | None = None,
         warmup: WarmupLog | None = None) -> None:
    """One round of every duty, in this order: recover dead workers' claims, fold the per-sender send counts into
    the jobs' counters, wake rested senders, settle what
    stopped jobs left, start scheduled jobs that are due, cover the engine's jobs with batches, complete the
    finished ones."""
    watch = watch or WorkerWatch()
    dead = watch.dead()
    with Session(get_engine(), expire_on_commit=False) as session:
        recovered = lifecycle.recover_stranded(session=session, dead_workers=dead)
        if dead:
            watch.forget(dead)  # after their claims are settled: their pairs are covered anew below
            log.warning("worker process(es) %s stopped; their sends under way became delivery unknown (%s)",
                        ", ".join(dead), recovered)
        elif recovered:
            log.warning("%s send(s) outlived their lease; they became delivery unknown", recovered)
        lifecycle.fold_counts(session=session)
        rested = lifecycle.wake_rested_senders(session=session)
        if rested:
            log.info("%s sender(s) back from Gmail's daily limit", rested)
        lifecycle.tidy_orphans(session=session)
        (warmup or WarmupLog()).note(session)
        if reconcile:
            lifecycle.reconcile_counters(session=session)
        _cancel_jobs_of_inactive_owners(session)
        started = lifecycle.start_due(session=session)
        if started:
            log.info("scheduled job(s) %s are due and start", ", ".join(map(str, started)))
        if project_paused():
            return
        active = [row[0] for row in session.execute(_ENGINE_JOBS)]
        session.commit()
        for job_id in active:
            dispatch_job(session=session, job_id=job_id, enqueue=enqueue)
        for job_id in lifecycle.complete_finished(session=session, job_ids=active):
            log.info("job %s completed", job_id)


def _cancel_jobs_of_inactive_owners(session: Session) -> None:
    """Finish a deactivation whose own cancelling did not happen (e.g. the web process stopped in between): the
    claim already sends nothing for such a job; this ends it, its unsent recipients becoming cancelled."""
    owners = session.exec(select(EmailJob.user_id).join(User, User.id == EmailJob.user_id).where(
        EmailJob.status.in_([s.value for s in lifecycle.JOB_OPEN]), User.is_active.is_(False)).distinct()).all()
    for user_id in owners:
        cancelled = cancel_active_jobs_of_user(session=session, user_id=user_id, reason="user deactivated")
        log.info("cancelled %s job(s) of deactivated user %s", cancelled, user_id)


def run(*, enqueue: Enqueue, stop: threading.Event) -> None:
    """Tick every SCHEDULER_INTERVAL_SECONDS (or at once when woken) while holding the lock. A lost connection to
    PostgreSQL or Redis is ridden out: logged once, retried with a growing pause, logged again when it is back."""
    interval = get_settings().scheduler_interval_seconds
    me, watch, warmup = uuid.uuid4().hex, WorkerWatch(), WarmupLog()
    last_reconcile, failing, backoff = 0.0, False, 0.5
    while not stop.is_set():
        try:
            redis = get_redis()
            beat_scheduler()
            if _hold_lock(redis, me, ttl=max(10, int(interval * 5))):
                reconcile = time.monotonic() - last_reconcile > RECONCILE_EVERY
                tick(enqueue=enqueue, reconcile=reconcile, watch=watch, warmup=warmup)
                last_reconcile = time.monotonic() if reconcile else last_reconcile
            if failing:
                log.info("scheduler: connections are back")
            failing, backoff = False, 0.5
            redis.blpop([WAKE_KEY], timeout=max(1, int(interval)))
            redis.delete(WAKE_KEY)
        except Exception as exc:  # noqa: BLE001 - one bad round (a lost connection included) must not stop it
            if not failing:
                log.exception("scheduler round failed (%s); retrying", type(exc).__name__)
            failing = True
            stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
    _step_down(me)


_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _step_down(me: str) -> None:
    """A clean stop hands the lock over at once (a scheduler started next, as in a redeploy, works from its first
    round instead of waiting for the lock to expire) and drops this scheduler's heartbeat."""
    try:
        redis = get_redis()
        redis.eval(_RELEASE_LUA, 1, SCHEDULER_LOCK_KEY, me)
        redis.delete(scheduler_alive_key())
    except Exception:  # noqa: BLE001 - Redis away at exit: the lock and the heartbeat expire by themselves
        log.warning("scheduler: could not release its lock at exit (it expires by itself)")


_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
"""


def _hold_lock(redis, me: str, ttl: int) -> bool:
    """Take or keep the scheduler lock, so that two schedulers never work at once."""
    return bool(redis.eval(_RENEW_LUA, 1, SCHEDULER_LOCK_KEY, me, ttl))

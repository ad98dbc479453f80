"""Planning: which senders work on a job, and queueing batches for the ones not already covered.

A batch is "up to N sends of job J through sender S"; it claims any sendable recipient of the job, so work
moves by itself to whichever of the job's senders can still send, and a duplicated batch is harmless. The planner
covers pairs that no batch covers; a running batch continues itself (see services/lifecycle.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlalchemy import text
from sqlmodel import Session, select

from mass_mailer.models import EmailJob, JobStatus, Sender, SenderStatus, utcnow
from mass_mailer.redis_client import get_redis
from mass_mailer.services import lifecycle
from mass_mailer.services.coordination import QUEUED, live_key
from mass_mailer.services.quota import effective_quota, remaining_today
from mass_mailer.settings import get_settings

Enqueue = Callable[[int, int, int], None]  # (job_id, sender_id, limit) → queue one batch
DISPATCH_TTL = 120  # seconds a queued batch covers its pair before it starts and refreshes the mark

# Pending rows due now or soon; rows resting in a long backoff wait for a later tick.
_DUE_SQL = text("""
    SELECT count(*) FROM email_recipients WHERE job_id = :job_id AND status = 'pending'
      AND (next_attempt_at IS NULL OR next_attempt_at <= now() + interval '30 seconds')
""")


def job_senders(*, session: Session, job: EmailJob) -> list[Sender]:
    """The job's senders that still exist (chosen ones, or all of its user's), in id order."""
    query = select(Sender).where(Sender.user_id == job.user_id, Sender.deleted_at.is_(None))
    if job.sender_ids:
        query = query.where(Sender.id.in_(job.sender_ids))
    return list(session.exec(query.order_by(Sender.id)))


def usable_senders(*, session: Session, job: EmailJob) -> dict[int, int]:
    """{sender_id: remaining quota} for the job's active senders with quota left today (the warm-up step's quota
    for a sender that warms up)."""
    today = utcnow().date()
    active = {s.id: effective_quota(daily_quota=s.daily_quota, warmup=s.warmup, step=s.warmup_step,
                                    last_sent_date=s.last_sent_date, today=today)
              for s in job_senders(session=session, job=job) if s.status == SenderStatus.ACTIVE}
    return {sid: left for sid, left in remaining_today(session=session, quotas=active).items() if left > 0}


def dispatch_job(*, session: Session, job_id: int, enqueue: Enqueue) -> int:
    """Start a queued job and queue batches for its usable senders that no batch covers; batches queued."""
    job = session.get(EmailJob, job_id)
    if job is None or job.status not in lifecycle.JOB_ENGINE:
        return 0
    if not job_senders(session=session, job=job):
        lifecycle.fail(session=session, job_id=job_id, reason="no sender left: the job's senders were removed")
        return 0
    if job.status == JobStatus.QUEUED and not lifecycle.start(session=session, job_id=job_id):
        return 0  # cancelled or paused since it was read
    pending = session.execute(_DUE_SQL, {"job_id": job_id}).scalar_one()
    usable = usable_senders(session=session, job=job)
    session.commit()
    if not pending or not usable:
        return 0
    return _queue_batches(job_id, usable, pending, enqueue)


def _queue_batches(job_id: int, usable: dict[int, int], pending: int, enqueue: Enqueue) -> int:
    settings = get_settings()
    redis = get_redis()
    # Enough parallel batches per sender to reach its pace through Gmail's latency, no more than threads allow.
    threads = settings.worker_processes * settings.worker_threads
    per_sender = max(1, min(math.ceil(settings.sender_rate_per_minute / 60 * 2), threads // len(usable)))
    per_sender = min(per_sender, max(1, math.ceil(pending / len(usable) / 10)))
    queued = 0
    for sender_id, left in usable.items():
        if not redis.set(live_key(job_id, sender_id), QUEUED, ex=DISPATCH_TTL, nx=True):
            continue  # a batch is queued or running for this pair
        limit = min(left, settings.send_batch_size)
        for _ in range(per_sender):
            enqueue(job_id, sender_id, limit)
            queued += 1
    return queued

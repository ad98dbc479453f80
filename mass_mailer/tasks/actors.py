"""Dramatiq actors: thin, they take ids and call the sending engine."""

from __future__ import annotations

import dramatiq

from mass_mailer.tasks.broker import broker  # noqa: F401 - the broker must exist before any actor
from mass_mailer.services.sending import run_batch

# A batch may wait on the sender's pace for a long time; the database, not a time limit, keeps it honest.
BATCH_TIME_LIMIT_MS = 6 * 3600 * 1000


@dramatiq.actor(max_retries=3, min_backoff=1000, time_limit=BATCH_TIME_LIMIT_MS)
def send_batch(job_id: int, sender_id: int, limit: int) -> None:
    """Send up to `limit` messages of the job through the sender; queue a follow-up while work remains."""
    if run_batch(job_id=job_id, sender_id=sender_id, limit=limit):
        send_batch.send(job_id, sender_id, limit)


def enqueue_batch(job_id: int, sender_id: int, limit: int) -> None:
    """Queue one batch (the planner's Enqueue)."""
    send_batch.send(job_id, sender_id, limit)

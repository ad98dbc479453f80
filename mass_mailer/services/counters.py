"""A job's send counters, exact and live: settles count per (job, sender) in `job_sender_counts`; the scheduler folds
those counts into the job's own `sent_count`, `failed_count` and `delivery_unknown_count` every round. A reader that
must be exact to the send (the job's progress) reads `live()`: the job's counters plus what is not folded yet, at
most one row per sender of the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session

# One statement (one snapshot: a fold that commits meanwhile is counted once, never missed): each job's own counters
# plus what the scheduler has not folded into them yet. Bounded by the jobs' senders, whatever their size.
_LIVE_SQL = text("""
    SELECT j.id, j.sent_count + coalesce(sum(c.sent - c.folded_sent), 0),
           j.failed_count + coalesce(sum(c.failed - c.folded_failed), 0),
           j.delivery_unknown_count + coalesce(sum(c.delivery_unknown - c.folded_unknown), 0)
    FROM email_jobs j LEFT JOIN job_sender_counts c ON c.job_id = j.id
    WHERE j.id = ANY(:ids) GROUP BY j.id
""")
_BY_SENDER_SQL = text("""
    SELECT c.sender_id, s.email, c.sent, c.failed, c.delivery_unknown
    FROM job_sender_counts c JOIN senders s ON s.id = c.sender_id
    WHERE c.job_id = :job_id AND (c.sent, c.failed, c.delivery_unknown) <> (0, 0, 0)
    ORDER BY c.sender_id
""")


@dataclass(frozen=True)
class Live:
    sent: int = 0
    failed: int = 0
    delivery_unknown: int = 0


def live(*, session: Session, job_ids: list[int]) -> dict[int, Live]:
    """The jobs' send counters exact to the last settle, by job id (absent: no such job)."""
    if not job_ids:
        return {}
    return {job_id: Live(int(s), int(f), int(u))
            for job_id, s, f, u in session.execute(_LIVE_SQL, {"ids": list(job_ids)})}


def by_sender(*, session: Session, job_id: int) -> list[tuple[int, str, int, int, int]]:
    """(sender id, address, sent, failed, delivery_unknown) of each sender that settled some of the job's sends."""
    return [tuple(row) for row in session.execute(_BY_SENDER_SQL, {"job_id": job_id})]

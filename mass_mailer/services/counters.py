"""A job's send counters, exact and live: settles count per (job, sender) in `job_sender_counts`; the scheduler folds
those counts into the job's own `sent_count`, `failed_count` and `delivery_unknown_count` every round. A reader that
must be exact to the send (the job's progress) adds what is not folded yet: at most one row per sender of the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session

_UNFOLDED_SQL = text("""
    SELECT job_id, sum(sent - folded_sent), sum(failed - folded_failed), sum(delivery_unknown - folded_unknown)
    FROM job_sender_counts WHERE job_id = ANY(:ids)
      AND (sent, failed, delivery_unknown) IS DISTINCT FROM (folded_sent, folded_failed, folded_unknown)
    GROUP BY job_id
""")
_BY_SENDER_SQL = text("""
    SELECT c.sender_id, s.email, c.sent, c.failed, c.delivery_unknown
    FROM job_sender_counts c JOIN senders s ON s.id = c.sender_id
    WHERE c.job_id = :job_id AND (c.sent, c.failed, c.delivery_unknown) <> (0, 0, 0)
    ORDER BY c.sender_id
""")


@dataclass(frozen=True)
class Unfolded:
    sent: int = 0
    failed: int = 0
    delivery_unknown: int = 0


def unfolded(*, session: Session, job_ids: list[int]) -> dict[int, Unfolded]:
    """Sends settled but not yet folded into the jobs' own counters, by job id (absent: nothing)."""
    if not job_ids:
        return {}
    return {job_id: Unfolded(int(s), int(f), int(u))
            for job_id, s, f, u in session.execute(_UNFOLDED_SQL, {"ids": list(job_ids)})}


def by_sender(*, session: Session, job_id: int) -> list[tuple[int, str, int, int, int]]:
    """(sender id, address, sent, failed, delivery_unknown) of each sender that settled some of the job's sends."""
    return [tuple(row) for row in session.execute(_BY_SENDER_SQL, {"job_id": job_id})]

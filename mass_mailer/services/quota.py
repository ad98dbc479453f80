"""Daily quota per sender over a rolling 24 h window, counted from the recipient rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from mass_mailer.models import utcnow

WINDOW = timedelta(hours=24)
# A row whose worker died mid-send may have been delivered: it counts against quota like a send.
DELIVERY_UNKNOWN = "delivery unknown: the worker stopped during the send; not retried to avoid a duplicate"

_USAGE_SQL = text("""
    SELECT sender_id, count(*) AS used
    FROM email_recipients
    WHERE sender_id = ANY(:ids)
      AND (status = 'sending'
           OR (status = 'sent' AND sent_at > :cutoff)
           OR (status = 'failed' AND error_message = :unknown AND lease_expires_at > :cutoff))
    GROUP BY sender_id
""")


def usage_last_24h(*, session: Session, sender_ids: list[int]) -> dict[int, int]:
    """Sends per sender in the rolling 24 h window, in-flight claims included; every id is present."""
    usage = {int(sender_id): 0 for sender_id in sender_ids}
    if not usage:
        return usage
    rows = session.execute(_USAGE_SQL, {"ids": list(usage), "cutoff": utcnow() - WINDOW,
                                        "unknown": DELIVERY_UNKNOWN})
    for sender_id, used in rows:
        usage[sender_id] = used
    return usage


def remaining_today(*, session: Session, quotas: dict[int, int]) -> dict[int, int]:
    """Quota left per sender id, given each sender's daily quota."""
    used = usage_last_24h(session=session, sender_ids=list(quotas))
    return {sid: max(0, quota - used[sid]) for sid, quota in quotas.items()}

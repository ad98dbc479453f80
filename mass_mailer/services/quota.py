"""Sender limits: the daily quota over a rolling 24 h (counted in the database) and the per-minute pace (Redis)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from sqlmodel import Session

from mass_mailer.models import utcnow
from mass_mailer.redis_client import get_redis
from mass_mailer.services.coordination import pace_key
from mass_mailer.services.metrics import SENDS_KEY

WINDOW = timedelta(hours=24)
# A new account's effective daily quota, one step per day it actually sent, then its own quota (and never more).
WARMUP_RAMP = (50, 100, 200, 400, 800)
_TODAY_SQL = "(now() AT TIME ZONE 'UTC')::date"


def warmup_step_sql(alias: str) -> str:
    """The warm-up step a sender is on today: its stored step, plus one when it last sent on an earlier day (the
    settle of its first send today stores that step)."""
    return (f"({alias}.warmup_step + CASE WHEN {alias}.last_sent_date < {_TODAY_SQL} THEN 1 ELSE 0 END)")


def effective_quota_sql(alias: str) -> str:
    """The daily quota that limits a sender now, in SQL: the warm-up ramp's step while it warms up."""
    ramp = ", ".join(map(str, WARMUP_RAMP))
    step = warmup_step_sql(alias)
    return (f"(CASE WHEN {alias}.warmup AND {step} < {len(WARMUP_RAMP)} "
            f"THEN least({alias}.daily_quota, (ARRAY[{ramp}])[{step} + 1]) ELSE {alias}.daily_quota END)")


def warmup_step(*, warmup: bool, step: int, last_sent_date: date | None, today: date | None = None) -> int | None:
    """The ramp step a sender is on today (0-based), or None when it does not warm up or has finished."""
    today = today or utcnow().date()
    current = step + (1 if last_sent_date is not None and last_sent_date < today else 0)
    return current if warmup and current < len(WARMUP_RAMP) else None


def effective_quota(*, daily_quota: int, warmup: bool, step: int, last_sent_date: date | None,
                    today: date | None = None) -> int:
    """The daily quota that limits a sender now (the same rule as `effective_quota_sql`)."""
    current = warmup_step(warmup=warmup, step=step, last_sent_date=last_sent_date, today=today)
    return daily_quota if current is None else min(daily_quota, WARMUP_RAMP[current])
# Sent rows in the window, claimed rows (reserved by a batch, or being sent: they may be delivered any moment), and
# rows whose delivery is unknown (Gmail may have delivered them): the same rule as the reservation's
# (lifecycle.USED_BY_SENDER_SQL), each part through its own index.
_USAGE_SQL = text("""
    SELECT sender_id, count(*) AS used FROM (
        SELECT sender_id FROM email_recipients WHERE sender_id = ANY(:ids) AND status = 'sent' AND sent_at > :cutoff
        UNION ALL
        SELECT sender_id FROM email_recipients WHERE sender_id = ANY(:ids) AND status = 'sending'
        UNION ALL
        SELECT sender_id FROM email_recipients
        WHERE sender_id = ANY(:ids) AND status = 'delivery_unknown' AND settled_at > :cutoff
    ) used GROUP BY sender_id
""")


def usage_last_24h(*, session: Session, sender_ids: list[int]) -> dict[int, int]:
    """Sends per sender in the rolling 24 h window, in-flight claims included; every id is present."""
    usage = {int(sender_id): 0 for sender_id in sender_ids}
    if not usage:
        return usage
    for sender_id, used in session.execute(_USAGE_SQL, {"ids": list(usage), "cutoff": utcnow() - WINDOW}):
        usage[sender_id] = used
    return usage


def remaining_today(*, session: Session, quotas: dict[int, int]) -> dict[int, int]:
    """Quota left per sender id, given each sender's daily quota."""
    used = usage_last_24h(session=session, sender_ids=list(quotas))
    return {sid: max(0, quota - used[sid]) for sid, quota in quotas.items()}


# A sliding-window log per sender on Redis' own clock, shared by every worker process. A call is
# admitted when fewer than `limit` calls were admitted in the last `window` ms and the previous one
# is at least `spacing` ms old (an even pace, no burst). Returns 0 when admitted, else ms to wait.
# It also counts the previous send's outcome (ARGV[4]) in the metrics hashes (all time, and per minute for the last
# hour), so a send costs one Redis round trip.
_PACE_LUA = """
local t = redis.call('TIME')
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  local minute = KEYS[2] .. ':' .. math.floor(tonumber(t[1]) / 60)
  redis.call('HINCRBY', minute, ARGV[4], 1)
  redis.call('EXPIRE', minute, 7200)
end
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, spacing = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= limit then
  wait = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + window - now
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if last and tonumber(last) + spacing - now > wait then wait = tonumber(last) + spacing - now end
if wait > 0 then return wait end
local seq = redis.call('INCR', KEYS[1] .. ':seq')
redis.call('ZADD', KEYS[1], now, now .. ':' .. seq)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[1] .. ':seq', window)
return 0
"""
# Gmail counts a call when it arrives; the margin absorbs the spread between reserving and arriving.
PACE_MARGIN_MS = 1000


class SenderPace:
    """At most `per_minute` Gmail calls per sender in any minute, across every worker."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._script = get_redis().register_script(_PACE_LUA)

    def try_acquire(self, sender_id: int, *, count: str | None = None) -> float:
        """Take one call slot now: 0.0, or the seconds to wait before asking again; `count` a send outcome too."""
        wait_ms = self._script(keys=[pace_key(sender_id), SENDS_KEY],
                               args=[60_000 + PACE_MARGIN_MS, self.per_minute, 60_000 // self.per_minute, count or ""])
        return int(wait_ms) / 1000

"""Rate limits kept in Redis (moving window), shared by every web process."""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from mass_mailer.errors import RateLimited
from mass_mailer.settings import SettingsError, get_settings


@lru_cache
def _limiter(redis_url: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(redis_url))


def check(name: str, identity: str, limit: str) -> None:
    """Count one hit of `name` for `identity`; raise RateLimited when `limit` (e.g. "20/minute") is spent."""
    redis_url = get_settings().redis_url
    if not redis_url:
        raise SettingsError("REDIS_URL is not set (or run `python -m mass_mailer up`)")
    limiter = _limiter(redis_url)
    item = parse(limit)
    if limiter.hit(item, "mass_mailer", name, identity):
        return
    reset_at = limiter.get_window_stats(item, "mass_mailer", name, identity).reset_time
    retry_after = max(1, math.ceil(reset_at - time.time()))
    raise RateLimited("Too many requests, please retry later", retry_after=retry_after)

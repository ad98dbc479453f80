"""The shared Redis connection pool."""

from __future__ import annotations

from functools import lru_cache

import redis

from mass_mailer.settings import SettingsError, get_settings


@lru_cache
def get_redis() -> redis.Redis:
    """A client on the process-wide pool for REDIS_URL."""
    url = get_settings().redis_url
    if not url:
        raise SettingsError("REDIS_URL is not set (or run `python -m mass_mailer up`)")
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                                health_check_interval=30)


@lru_cache
def get_binary_redis() -> redis.Redis:
    """A client for REDIS_URL that keeps values as bytes (uploaded files)."""
    url = get_settings().redis_url
    if not url:
        raise SettingsError("REDIS_URL is not set (or run `python -m mass_mailer up`)")
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def reset_redis() -> None:
    """Drop the cached clients (after a fork or a settings change)."""
    get_redis.cache_clear()
    get_binary_redis.cache_clear()


def redis_ok() -> bool:
    """True when Redis answers PING."""
    try:
        return bool(get_redis().ping())
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False

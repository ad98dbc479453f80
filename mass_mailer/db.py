"""The database engine (pooled) and session helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from mass_mailer.settings import get_settings


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine, created on first use."""
    return create_engine(get_settings().sqlalchemy_url, pool_pre_ping=True, pool_size=10,
                         max_overflow=10, pool_recycle=1800)


def reset_engine() -> None:
    """Dispose of the engine (after a fork or a settings change)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_ok() -> bool:
    """True when PostgreSQL answers a trivial query."""
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False

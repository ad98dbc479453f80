"""A page whose database work waits (a locked table, a slow or lost PostgreSQL) delays that page, not the app."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from mass_mailer.db import get_engine
from mass_mailer.state.dashboard import DashboardState
from mass_mailer.state.guard import handler_name
from mass_mailer.state.profile import ProfileState

from .reflex_socket import ReflexSocket, session_cookie
from .test_event_guard import HealthProbe

pytestmark = pytest.mark.timeout(300)

LOCKED_SECONDS = 3.0


def _hold_lock(table: str, held: threading.Event, release: threading.Event) -> None:
    """What a migration or a long transaction does to a page's query: the table cannot be read until it ends."""
    with get_engine().connect() as conn:
        conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        held.set()
        release.wait(30)
        conn.rollback()


@pytest.mark.parametrize(("state", "table"), [(DashboardState, "email_jobs"), (ProfileState, "senders")])
def test_a_page_waiting_for_a_locked_table_leaves_the_app_answering(app_url, state, table):
    """The page's load waits for the table; meanwhile /api/health (and so every other tab and the API, on the same
    event loop) answers as quickly as usual; the page then shows its data once the table is free."""
    url = app_url
    tab = ReflexSocket(url, cookie=session_cookie(url, f"waits.for.{table}@example.com"))
    held, release = threading.Event(), threading.Event()
    locker = threading.Thread(target=_hold_lock, args=(table, held, release), daemon=True)
    try:
        with HealthProbe(url) as probe:
            locker.start()
            assert held.wait(10), f"could not lock {table}"
            tab.emit(handler_name(state, "load"), path="/")
            during = tab.delta(seconds=LOCKED_SECONDS)
            release.set()
            locker.join(10)
            after = tab.delta(seconds=5)
    finally:
        release.set()
        tab.close()
    name = state.get_full_name()
    assert name not in during, "the page's data came while its table was locked"
    assert name in after and after[name], "the page never showed its data after the table was free"
    assert probe.failures == 0 and probe.delay < 0.2, \
        f"/api/health was {probe.delay:.3f} s late while one page waited for {table}"

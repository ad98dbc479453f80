"""The user a UI event is checked against: kept per process, yet never behind a change the application made."""

from __future__ import annotations

import time

from sqlalchemy import event, text

from mass_mailer.db import get_engine
from mass_mailer.services import user_cache


def _id(agent) -> int:
    return agent.get("/api/auth/me").json()["id"]


def test_every_change_an_admin_or_the_user_makes_shows_at_the_next_check(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    bob_id = _id(bob)
    assert user_cache.user_for_token(bob.token).role == "user"
    assert user_cache.user_for_token(bob.token).role == "user"  # now kept
    assert admin.patch(f"/api/users/{bob_id}", json={"role": "admin"}).status_code == 200
    assert user_cache.user_for_token(bob.token).role == "admin"
    assert bob.patch("/api/auth/me", json={"name": "Robert"}).status_code == 200
    assert user_cache.user_for_token(bob.token).name == "Robert"
    assert admin.patch(f"/api/users/{bob_id}", json={"is_active": False}).status_code == 200
    assert user_cache.user_for_token(bob.token) is None
    assert admin.patch(f"/api/users/{bob_id}", json={"is_active": True}).status_code == 200
    token = bob.token
    assert user_cache.user_for_token(token).id == bob_id
    assert bob.post("/api/auth/logout").status_code in (200, 204)
    assert user_cache.user_for_token(token) is None  # signed out: the token is refused at once
    assert user_cache.user_for_token("not-a-token") is None and user_cache.user_for_token(None) is None


def test_a_kept_user_costs_no_query_and_a_change_by_hand_shows_within_the_bound(signed_in, monkeypatch):
    carol = signed_in("carol@example.com")
    carol_id = _id(carol)
    assert user_cache.user_for_token(carol.token).id == carol_id
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(get_engine(), "before_cursor_execute", listener)
    try:
        assert user_cache.user_for_token(carol.token).id == carol_id
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    assert statements == [], "a kept user was read from PostgreSQL again"

    monkeypatch.setattr(user_cache, "ROW_SECONDS", 0.3)
    with get_engine().begin() as conn:  # outside the application: no stamp moves
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": carol_id})
    time.sleep(0.4)
    assert user_cache.user_for_token(carol.token) is None


def test_a_user_id_that_comes_back_for_someone_else_never_finds_the_previous_persons_row(signed_in):
    """After a restore from a backup (here: the tables emptied and their ids restarted), the same user id can
    belong to another person: their session must show them, not the row kept for the previous one's session."""
    dave = signed_in("dave@example.com")
    dave_id = _id(dave)
    assert user_cache.user_for_token(dave.token).email == "dave@example.com"  # kept
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE users RESTART IDENTITY CASCADE"))
    erin = signed_in("erin@example.com")
    assert _id(erin) == dave_id
    assert user_cache.user_for_token(erin.token).email == "erin@example.com"

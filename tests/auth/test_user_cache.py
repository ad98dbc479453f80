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


def test_a_session_of_an_ids_previous_holder_opens_nothing_of_the_new_one(signed_in, monkeypatch):
    """After a restore (the tables emptied, ids restarted), the previous holder of a user id still has a valid,
    signed token: it must not open the account of the person who holds the id now, in the UI or the API."""
    from mass_mailer.services import tokens

    from .conftest import Browser

    frank = signed_in("frank@example.com")
    frank_id = _id(frank)
    with get_engine().begin() as conn:  # frank has been a user for a while
        conn.execute(text("UPDATE users SET created_at = now() - interval '1 day' WHERE id = :id"), {"id": frank_id})
    issued_now = time.time
    with monkeypatch.context() as clock:
        clock.setattr(tokens.time, "time", lambda: issued_now() - 60)
        earlier = tokens.issue(frank_id)  # a session frank opened a minute ago, as the sign-in would have
    bearer = {"Authorization": f"Bearer {earlier}"}
    assert user_cache.user_for_token(earlier).email == "frank@example.com"
    assert Browser().get("/api/auth/me", headers=bearer).json()["email"] == "frank@example.com"

    monkeypatch.setattr(user_cache, "ROW_SECONDS", 0.3)  # the restore is done by hand: no stamp moves
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE users RESTART IDENTITY CASCADE"))
    gina = signed_in("gina@example.com")
    assert _id(gina) == frank_id
    time.sleep(0.4)
    assert user_cache.user_for_token(earlier) is None
    assert Browser().get("/api/auth/me", headers=bearer).status_code == 401
    assert user_cache.user_for_token(gina.token).email == "gina@example.com"  # her own session works
    assert gina.get("/api/auth/me").json()["email"] == "gina@example.com"


def test_a_bulk_update_through_a_session_shows_at_the_next_check(signed_in):
    from sqlalchemy import update

    from mass_mailer.db import session_scope
    from mass_mailer.models import User

    signed_in("admin@example.com")  # the first user to sign in is an admin
    frank = signed_in("frank@example.com")
    frank_id = _id(frank)
    assert user_cache.user_for_token(frank.token).role == "user"  # kept
    with session_scope() as session:
        session.execute(update(User).where(User.id == frank_id).values(role="admin"))
    assert user_cache.user_for_token(frank.token).role == "admin"
    with session_scope() as session:
        session.execute(update(User).where(User.id == frank_id).values(is_active=False))
    assert user_cache.user_for_token(frank.token) is None


def test_a_change_whose_stamp_cannot_move_is_rolled_back_not_committed_unseen(signed_in, monkeypatch):
    import redis
    from redis.exceptions import RedisError

    from mass_mailer.db import session_scope
    from mass_mailer.models import User

    signed_in("admin@example.com")
    grace = signed_in("grace@example.com")
    grace_id = _id(grace)
    assert user_cache.user_for_token(grace.token).role == "user"  # kept
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setattr(user_cache, "get_redis", lambda: unreachable)
    try:
        with session_scope() as session:
            session.get(User, grace_id).role = "admin"
    except RedisError:
        pass
    else:
        raise AssertionError("the change was committed although no process could be told of it")
    monkeypatch.undo()
    with session_scope() as session:
        assert session.get(User, grace_id).role == "user"  # rolled back: what the kept row says is still true
    assert user_cache.user_for_token(grace.token).role == "user"


def test_a_stamp_lost_from_redis_never_makes_an_old_row_look_current(signed_in):
    """Another process changes the user after Redis lost the stamp: the new stamp must not match the kept one."""
    import os
    import subprocess
    import sys

    from mass_mailer.redis_client import get_redis

    heidi = signed_in("heidi@example.com")
    heidi_id = _id(heidi)

    def rename_elsewhere(name: str) -> None:
        code = ("import sys\nfrom mass_mailer.db import session_scope\nfrom mass_mailer.models import User\n"
                "with session_scope() as s:\n    s.get(User, int(sys.argv[1])).name = sys.argv[2]\n")
        subprocess.run([sys.executable, "-c", code, str(heidi_id), name], check=True, env=os.environ.copy(),
                       timeout=60)

    rename_elsewhere("Heidi")  # the stamp has a value
    assert user_cache.user_for_token(heidi.token).name == "Heidi"  # kept under it
    get_redis().delete(user_cache.stamp_key(heidi_id))  # Redis restarted without its data, say
    rename_elsewhere("Heidi K.")
    assert user_cache.user_for_token(heidi.token).name == "Heidi K."


def test_checks_and_changes_on_many_threads_at_once_never_fail(signed_in, monkeypatch):
    import threading

    people = [signed_in(f"t{i}@example.com") for i in range(4)]
    ids = [_id(p) for p in people]
    monkeypatch.setattr(user_cache, "_MOST_KEPT", 2)  # every miss sweeps the kept rows
    errors: list[BaseException] = []

    def check(agent):
        try:
            for _ in range(400):
                assert user_cache.user_for_token(agent.token) is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def change():
        try:
            for _ in range(400):
                user_cache.changed(ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: any unguarded use of the dict shows
    monkeypatch.setattr(user_cache, "ROW_SECONDS", 0.0)  # every check reads the row and stores it again
    threads = [threading.Thread(target=check, args=(p,)) for p in people] + [threading.Thread(target=change)
                                                                              for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_a_request_while_redis_is_down_is_a_503_to_retry_not_a_500(signed_in, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from mass_mailer.api import create_app
    from mass_mailer.embedded import RedisServer
    from mass_mailer.redis_client import reset_redis
    from tests.auth.conftest import APP_URL
    from mass_mailer.settings import reset_settings

    server = RedisServer(tmp_path / "redis").start()
    monkeypatch.setenv("REDIS_URL", server.url)
    reset_settings()
    reset_redis()
    try:
        ivan = signed_in("ivan@example.com")
        assert ivan.get("/api/auth/me").status_code == 200
        server.stop()
        reset_redis()
        # As a browser sees it: the server's answer, not the exception the test client would re-raise.
        client = TestClient(create_app(), base_url=APP_URL, raise_server_exceptions=False)
        answer = client.get("/api/auth/me", headers={"Authorization": f"Bearer {ivan.token}"})
        assert answer.status_code == 503, answer.text
        assert "try again" in answer.json()["detail"] and answer.headers["Retry-After"].isdigit()
    finally:
        server.stop()
        monkeypatch.undo()
        reset_settings()
        reset_redis()

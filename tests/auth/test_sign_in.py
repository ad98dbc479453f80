"""Signing in with Google: accounts, roles, the session cookie and the callback's defences."""

from __future__ import annotations

import json

from sqlmodel import select

from mass_mailer.db import session_scope
from mass_mailer.models import User
from mass_mailer.redis_client import get_redis
from tests.auth.conftest import Browser


def test_sign_in_round_trip_sets_session_cookie_and_me_works(browser):
    answer = browser.sign_in("Alice@Example.com")
    assert answer.status_code == 302
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "mm_token=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    me = browser.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    assert set(me.json()) == {"id", "email", "name", "picture", "role"}
    bearer = browser.client.get("/api/auth/me", headers={"Authorization": f"Bearer {browser.token}"},
                                cookies={})
    assert bearer.json()["email"] == "alice@example.com"


def test_first_user_is_admin_and_the_second_is_not(signed_in):
    assert signed_in("first@example.com").get("/api/auth/me").json()["role"] == "admin"
    assert signed_in("second@example.com").get("/api/auth/me").json()["role"] == "user"
    assert signed_in("first@example.com").get("/api/auth/me").json()["role"] == "admin"


def test_admin_emails_become_admins(signed_in, monkeypatch):
    from mass_mailer.settings import reset_settings

    signed_in("first@example.com")
    monkeypatch.setenv("ADMIN_EMAILS", "Boss@Example.com, other@example.com")
    reset_settings()
    assert signed_in("boss@example.com").get("/api/auth/me").json()["role"] == "admin"
    assert signed_in("plain@example.com").get("/api/auth/me").json()["role"] == "user"


def test_safe_next_path_is_kept_and_foreign_ones_are_not(browser):
    params = browser.consent(browser.start_sign_in("a@example.com", next="/jobs/3"))
    assert browser.callback(params).headers["location"] == "/jobs/3"
    for unsafe in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        params = browser.consent(browser.start_sign_in("a@example.com", next=unsafe))
        assert browser.callback(params).headers["location"] == "/"


def test_replayed_state_is_refused(browser):
    params = browser.consent(browser.start_sign_in("a@example.com"))
    assert browser.callback(params).status_code == 302
    replay = browser.callback(params)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.json()["detail"]


def test_expired_state_is_refused(browser):
    params = browser.consent(browser.start_sign_in("a@example.com"))
    for key in get_redis().scan_iter("mm:oauth:state:*"):
        get_redis().delete(key)  # what Redis does after the 10 minutes the state lives
    assert browser.callback(params).status_code == 400
    assert _users() == []


def test_callback_without_or_with_another_flow_cookie_is_refused(browser):
    params = browser.consent(browser.start_sign_in("victim@example.com"))
    browser.client.cookies.delete("mm_oauth", path="/api/")
    answer = browser.callback(params)
    assert answer.status_code == 400 and "another browser" in answer.json()["detail"]

    params = browser.consent(browser.start_sign_in("victim@example.com"))
    browser.client.cookies.set("mm_oauth", "attacker-chosen", domain="127.0.0.1", path="/api/")
    assert browser.callback(params).status_code == 400
    assert _users() == []


def test_callback_with_an_attackers_state_in_another_browser_is_refused(browser):
    attacker = browser
    params = attacker.consent(attacker.start_sign_in("attacker@example.com"))
    victim = Browser()
    assert victim.callback(params).status_code == 400
    assert victim.token is None


def test_missing_pkce_verifier_fails_and_creates_no_user(browser):
    params = browser.consent(browser.start_sign_in("a@example.com"))
    redis = get_redis()
    (key,) = list(redis.scan_iter("mm:oauth:state:*"))
    pending = json.loads(redis.get(key))
    pending["code_verifier"] = None
    redis.set(key, json.dumps(pending), ex=600)
    answer = browser.callback(params)
    assert answer.status_code == 400
    assert "Google refused" in answer.json()["detail"]
    assert _users() == [] and browser.token is None


def test_access_denied_is_a_clear_400(browser, emulator_config):
    emulator_config(deny_consent=True)
    params = browser.consent(browser.start_sign_in("a@example.com"))
    assert params["error"] == "access_denied"
    answer = browser.callback(params)
    assert answer.status_code == 400
    assert "did not grant access (access_denied)" in answer.json()["detail"]


def test_browser_sign_in_navigation(browser):
    answer = browser.get("/api/auth/login", params={"login_hint": "nav@example.com", "next": "/senders"})
    assert answer.status_code == 302
    assert "mm_oauth=" in answer.headers["set-cookie"]
    final = browser.callback(browser.consent(answer.headers["location"]))
    assert final.headers["location"] == "/senders"
    assert browser.get("/api/auth/me").json()["email"] == "nav@example.com"


def _users() -> list[str]:
    with session_scope() as session:
        return [u.email for u in session.exec(select(User))]

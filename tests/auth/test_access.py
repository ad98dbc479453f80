"""Who may sign in and who becomes admin: ADMIN_EMAILS, ALLOWED_EMAILS and ALLOWED_DOMAINS."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mass_mailer.db import session_scope
from mass_mailer.models import User
from mass_mailer.settings import reset_settings
from tests.auth.conftest import Browser


@pytest.fixture
def configure(monkeypatch):
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()
    return apply


def _users() -> list[str]:
    with session_scope() as session:
        return sorted(u.email for u in session.exec(select(User)))


def test_with_admin_emails_set_a_stranger_signing_in_first_is_not_admin(signed_in, configure):
    configure(ADMIN_EMAILS="Boss@Example.com")
    stranger = signed_in("stranger@example.com")
    assert stranger.get("/api/auth/me").json()["role"] == "user"
    assert stranger.get("/api/users").status_code == 403
    assert signed_in("boss@example.com").get("/api/auth/me").json()["role"] == "admin"
    assert signed_in("stranger@example.com").get("/api/auth/me").json()["role"] == "user"


def test_without_admin_emails_the_first_user_is_still_admin(signed_in):
    assert signed_in("first@example.com").get("/api/auth/me").json()["role"] == "admin"
    assert signed_in("second@example.com").get("/api/auth/me").json()["role"] == "user"


def test_allowed_emails_and_domains_decide_who_signs_in(signed_in, browser, configure):
    configure(ALLOWED_EMAILS=" Alice@Example.com ", ALLOWED_DOMAINS="Corp.Example,@team.example",
              ADMIN_EMAILS="boss@elsewhere.example")
    for email in ("alice@example.com", "BOB@corp.example", "carol@team.example", "boss@elsewhere.example"):
        signed_in(email)
    for email in ("eve@example.com", "mallory@evil.example", "sub@dept.corp.example", "x@corp.example.evil"):
        answer = browser.sign_in(email)
        assert answer.status_code == 403, email
        assert "not allowed to sign in" in answer.json()["detail"]
        assert browser.token is None
    assert _users() == ["alice@example.com", "bob@corp.example", "boss@elsewhere.example", "carol@team.example"]


def test_a_refused_browser_sign_in_goes_home_with_an_error_and_stores_nothing(browser, configure):
    configure(ALLOWED_DOMAINS="corp.example")
    start = browser.get("/api/auth/login", params={"login_hint": "eve@evil.example", "next": "/senders"})
    final = browser.callback(browser.consent(start.headers["location"]))
    assert final.status_code == 302 and final.headers["location"] == "/?error=not_allowed"
    assert browser.token is None and browser.get("/api/auth/me").status_code == 401
    assert _users() == []


def test_narrowing_the_allowed_domains_ends_existing_sessions(signed_in, configure):
    eve = signed_in("eve@evil.example")
    assert eve.get("/api/auth/me").status_code == 200
    configure(ALLOWED_DOMAINS="corp.example")
    assert eve.get("/api/auth/me").status_code == 401


def test_sender_accounts_are_not_restricted_by_the_allowed_lists(signed_in, configure):
    configure(ALLOWED_DOMAINS="corp.example")
    alice = signed_in("alice@corp.example")
    assert alice.connect_sender("newsletter@gmail.example").headers["location"].startswith("/senders?connected=")
    assert [s["email"] for s in alice.get("/api/senders").json()] == ["newsletter@gmail.example"]
    assert _users() == ["alice@corp.example"]


def test_no_lists_means_anyone_may_sign_in(signed_in):
    for email in ("a@one.example", "b@two.example"):
        assert Browser().sign_in(email).status_code == 302

"""Plain http to Google only for the local emulator; Secure cookies behind https."""

from __future__ import annotations

import os

from mass_mailer.gmail import oauth
from mass_mailer.settings import reset_settings
from tests.auth.conftest import Browser


def test_insecure_transport_is_not_allowed_for_real_google(monkeypatch):
    for name in ("GOOGLE_AUTH_URI", "GOOGLE_TOKEN_URI", "GOOGLE_USERINFO_URI", "GOOGLE_REVOKE_URI",
                 "GMAIL_API_ENDPOINT"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    reset_settings()
    request = oauth.authorization_request(oauth.SIGNIN_SCOPES, login_hint="a@example.com")
    assert request.url.startswith("https://accounts.google.com/o/oauth2/auth?")
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ


def test_cookies_are_secure_when_public_url_is_https(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://mail.example.com")
    reset_settings()
    answer = Browser().client.post("/api/auth/google")
    assert answer.status_code == 200
    assert "redirect_uri=https%3A%2F%2Fmail.example.com%2Fapi%2Fauth%2Fcallback" in answer.json()["url"]
    cookie = answer.headers["set-cookie"]
    assert "mm_oauth=" in cookie and "Secure" in cookie and "HttpOnly" in cookie

"""The OAuth flow cookie: `__Host-mm_oauth` on https, so a sibling subdomain cannot plant one; `mm_oauth` on http."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from mass_mailer.api import create_app
from mass_mailer.settings import reset_settings

PUBLIC = "https://mail.example.com"


@pytest.fixture
def https(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    reset_settings()


def _client() -> TestClient:
    return TestClient(create_app(), base_url=PUBLIC, follow_redirects=False)


def _consent(url: str) -> dict[str, str]:
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    location = answer.headers["location"]
    assert location.startswith(PUBLIC + "/api/auth/callback?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _set_cookie(answer) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(answer.headers["set-cookie"])
    return cookie


def test_on_https_the_flow_cookie_is_a_host_cookie_and_sign_in_works(https):
    client = _client()
    started = client.post("/api/auth/google", json={"login_hint": "alice@example.com"})
    morsel = _set_cookie(started)["__Host-mm_oauth"]
    assert morsel["path"] == "/" and morsel["secure"] and morsel["httponly"] and not morsel["domain"]
    assert "mm_oauth" not in _set_cookie(started)
    back = client.get("/api/auth/callback", params=_consent(started.json()["url"]))
    assert back.status_code == 302 and back.headers["location"] == "/"
    assert client.get("/api/auth/me").json()["email"] == "alice@example.com"


def test_on_https_browser_sign_in_and_sender_connection_work(https):
    client = _client()
    start = client.get("/api/auth/login", params={"login_hint": "alice@example.com"})
    assert "__Host-mm_oauth=" in start.headers["set-cookie"]
    assert client.get("/api/auth/callback", params=_consent(start.headers["location"])).status_code == 302
    start = client.get("/api/senders/connect", params={"login_hint": "s@example.com"})
    back = client.get("/api/auth/callback", params=_consent(start.headers["location"]))
    assert back.headers["location"] == "/senders?connected=s%40example.com"
    assert [s["email"] for s in client.get("/api/senders").json()] == ["s@example.com"]


def test_a_flow_cookie_planted_from_a_sibling_subdomain_does_not_finish_the_attackers_sign_in(https):
    attacker = _client()
    started = attacker.post("/api/auth/google", json={"login_hint": "attacker@example.com"})
    nonce = _set_cookie(started)["__Host-mm_oauth"].value
    params = _consent(started.json()["url"])
    victim = _client()
    # What evil.example.com can do: a cookie for the parent domain, sent to every sibling.
    victim.cookies.set("mm_oauth", nonce, domain=".example.com", path="/")
    answer = victim.get("/api/auth/callback", params=params)
    assert answer.status_code == 400
    assert victim.get("/api/auth/me").status_code == 401


def test_on_http_the_flow_cookie_keeps_its_name(browser):
    answer = browser.client.post("/api/auth/google")
    morsel = _set_cookie(answer)["mm_oauth"]
    assert morsel["path"] == "/api/" and not morsel["secure"]
    assert browser.sign_in("a@example.com").status_code == 302

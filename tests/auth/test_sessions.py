"""Session tokens: expiry, forgery, revocation, deactivation, and the CSRF rule for cookie sessions."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from mass_mailer.services import tokens
from mass_mailer.settings import get_settings


def _me(agent, token: str):
    return agent.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def _claims(user_id: int, **changes) -> dict:
    now = int(time.time())
    return {"sub": str(user_id), "iss": tokens.ISSUER, "aud": tokens.AUDIENCE, "iat": now, "nbf": now,
            "exp": now + 600, "jti": "j1"} | changes


def _sign(claims: dict, key: str | None = None) -> str:
    return jwt.encode(claims, key or get_settings().secret_key.get_secret_value(), algorithm="HS256")


def test_logout_revokes_the_token_at_once(signed_in):
    alice = signed_in("alice@example.com")
    token = alice.token
    assert _me(alice, token).status_code == 200
    answer = alice.post("/api/auth/logout")
    assert answer.status_code == 204
    assert 'mm_token=""' in answer.headers["set-cookie"] or "Max-Age=0" in answer.headers["set-cookie"]
    assert _me(alice, token).status_code == 401
    assert alice.get("/api/auth/me").status_code == 401


def test_browser_sign_out_clears_cookie_and_revokes(signed_in):
    alice = signed_in("alice@example.com")
    token = alice.token
    answer = alice.get("/api/auth/signout")
    assert answer.status_code == 302 and answer.headers["location"] == "/"
    assert _me(alice, token).status_code == 401


@pytest.mark.parametrize("forge", ["expired", "tampered", "alg_none", "wrong_audience", "wrong_issuer",
                                   "wrong_key", "no_jti", "garbage"])
def test_bad_tokens_are_401(signed_in, forge):
    alice = signed_in("alice@example.com")
    user_id = alice.get("/api/auth/me").json()["id"]
    assert _me(alice, _sign(_claims(user_id))).status_code == 200  # the forging recipe itself is sound
    if forge == "expired":
        token = _sign(_claims(user_id, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200,
                              exp=int(time.time()) - 3600))
    elif forge == "tampered":
        header, payload, signature = alice.token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = str(user_id + 1)
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token = f"{header}.{payload}.{signature}"
    elif forge == "alg_none":
        token = jwt.encode(_claims(user_id), None, algorithm="none")
    elif forge == "wrong_audience":
        token = _sign(_claims(user_id, aud="someone-else"))
    elif forge == "wrong_issuer":
        token = _sign(_claims(user_id, iss="someone-else"))
    elif forge == "wrong_key":
        token = _sign(_claims(user_id), key="x" * 48)
    elif forge == "no_jti":
        claims = _claims(user_id)
        del claims["jti"]
        token = _sign(claims)
    else:
        token = "not-a-jwt"
    answer = _me(alice, token)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Not signed in, or the session has expired"}


def test_cookie_post_from_another_site_is_refused(signed_in):
    alice = signed_in("alice@example.com")
    client = alice.client
    assert client.patch("/api/auth/me", json={"name": "A"},
                        headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.patch("/api/auth/me", json={"name": "A"},
                        headers={"Referer": "https://evil.example/page"}).status_code == 403
    assert client.patch("/api/auth/me", json={"name": "A"},
                        headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    assert client.patch("/api/auth/me", json={"name": "B"},
                        headers={"Referer": "http://127.0.0.1:8000/profile"}).status_code == 200
    assert client.patch("/api/auth/me", json={"name": "C"},
                        headers={"X-Requested-With": "fetch"}).status_code == 200
    # A cross-site page cannot sign the user out.
    assert client.post("/api/auth/logout", headers={"Origin": "https://evil.example"}).status_code == 403


def test_bearer_requests_need_no_origin(signed_in):
    alice = signed_in("alice@example.com")
    token = alice.token
    alice.client.cookies.clear()
    answer = alice.client.patch("/api/auth/me", json={"name": "Alice A."},
                                headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["name"] == "Alice A."


def test_profile_name_is_validated(signed_in):
    alice = signed_in("alice@example.com")
    assert alice.patch("/api/auth/me", json={"name": "  Alice  "}).json()["name"] == "Alice"
    for bad in ({"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": 5}, {}, {"name": "a", "role": "admin"}):
        answer = alice.patch("/api/auth/me", json=bad)
        assert answer.status_code in (400, 422), bad
        assert "detail" in answer.json()
    assert alice.get("/api/auth/me").json()["role"] == "admin"  # first user; "role" was not taken from the body


def test_not_signed_in_is_401(browser):
    assert browser.get("/api/auth/me").status_code == 401
    assert browser.get("/api/senders").status_code == 401
    assert browser.get("/api/users").status_code == 401


def test_auth_endpoints_are_rate_limited_per_client(browser, monkeypatch):
    from mass_mailer.settings import reset_settings

    monkeypatch.setenv("AUTH_RATE_LIMIT", "3/minute")
    reset_settings()
    for _ in range(3):
        assert browser.client.post("/api/auth/google").status_code == 200
    answer = browser.client.post("/api/auth/google")
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert browser.get("/api/auth/login").status_code == 429

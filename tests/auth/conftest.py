"""A browser-like client: starts flows on the app, visits the emulator's consent page, returns to the callback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from mass_mailer.api import create_app

APP_URL = "http://127.0.0.1:8000"  # PUBLIC_URL of the test environment
SAME_SITE = {"Origin": APP_URL}


class Browser:
    """One user agent with its own cookie jar, talking to the app in-process and to the emulator over HTTP."""

    def __init__(self) -> None:
        self.client = TestClient(create_app(), base_url=APP_URL, follow_redirects=False)

    def consent(self, authorization_url: str) -> dict[str, str]:
        """Visit Google's (the emulator's) authorization URL; the query it redirects back with."""
        answer = httpx.get(authorization_url, follow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(APP_URL + "/api/auth/callback?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def callback(self, params: dict[str, str]) -> httpx.Response:
        return self.client.get("/api/auth/callback", params=params)

    def start_sign_in(self, email: str, **body) -> str:
        answer = self.client.post("/api/auth/google", json={"login_hint": email, **body})
        assert answer.status_code == 200, answer.text
        return answer.json()["url"]

    def sign_in(self, email: str) -> httpx.Response:
        """The whole sign-in round trip; the callback's answer."""
        return self.callback(self.consent(self.start_sign_in(email)))

    def start_connect(self, email: str, **body) -> str:
        answer = self.client.post("/api/senders", json={"login_hint": email, **body}, headers=SAME_SITE)
        assert answer.status_code == 200, answer.text
        return answer.json()["url"]

    def connect_sender(self, email: str, **body) -> httpx.Response:
        """The whole sender connection round trip; the callback's answer."""
        return self.callback(self.consent(self.start_connect(email, **body)))

    @property
    def token(self) -> str | None:
        return self.client.cookies.get("mm_token")

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.client.post(path, headers={**SAME_SITE, **kw.pop("headers", {})}, **kw)

    def patch(self, path: str, **kw) -> httpx.Response:
        return self.client.patch(path, headers={**SAME_SITE, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.client.delete(path, headers={**SAME_SITE, **kw.pop("headers", {})}, **kw)


@pytest.fixture
def browser() -> Browser:
    """A fresh browser (no cookies)."""
    return Browser()


@pytest.fixture
def signed_in():
    """Make a browser signed in as `email`."""
    def make(email: str) -> Browser:
        agent = Browser()
        answer = agent.sign_in(email)
        assert answer.status_code == 302, answer.text
        assert agent.token
        return agent
    return make


@pytest.fixture
def emulator_config(emulator):
    """Change the emulator's settings for one test; they are restored afterwards."""
    yield emulator.configure
    emulator.reset(config=True)

"""The ASGI guard around the whole app: security headers on every response; demo mode answers only loopback hosts."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from mass_mailer.api import create_app
from mass_mailer.settings import reset_settings

FOREIGN = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.5", "[2001:db8::1]:8000", ""]
LOOPBACK = ["127.0.0.1:8000", "localhost", "LOCALHOST:8000", "127.8.9.10", "[::1]:8000", "[::1]"]


def _app():
    """The app as Reflex serves it: its websocket (/_event) is mounted inside the API app."""
    app = create_app()

    async def event(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.router.routes.insert(0, WebSocketRoute("/_event", event))
    return app


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_MODE", "1")
    reset_settings()


@pytest.mark.parametrize("host", FOREIGN)
def test_demo_mode_refuses_requests_and_websockets_for_a_foreign_host(demo, host):
    client = TestClient(_app())
    for path in ("/api/health", "/", "/_upload", "/api/auth/login"):
        answer = client.get(path, headers={"Host": host})
        assert answer.status_code == 403, (path, host)
        assert "loopback" in answer.json()["detail"]
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect("/_event", headers={"Host": host}):
            pass
    assert refused.value.status_code == 403


@pytest.mark.parametrize("host", LOOPBACK)
def test_demo_mode_serves_loopback_hosts(demo, host):
    client = TestClient(_app())
    assert client.get("/api/health", headers={"Host": host}).status_code == 200
    with client.websocket_connect("/_event", headers={"Host": host}) as socket:
        assert socket.receive_text() == "hello"


def test_outside_demo_mode_any_host_is_served():
    client = TestClient(_app())
    assert client.get("/api/health", headers={"Host": "mail.example.com"}).status_code == 200
    with client.websocket_connect("/_event", headers={"Host": "mail.example.com"}) as socket:
        assert socket.receive_text() == "hello"


SECURITY_HEADERS = {"content-security-policy": "frame-ancestors 'none'", "x-frame-options": "DENY",
                    "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


def _assert_protected(answer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name, dict(answer.headers))


def test_every_kind_of_response_carries_the_security_headers(signed_in, browser):
    alice = signed_in("alice@example.com")
    for answer in (alice.get("/api/auth/me"), alice.get("/api/senders/999"), alice.get("/api/no-such-path"),
                   alice.get("/api/health/"), browser.get("/api/auth/login"), browser.get("/api/auth/me"),
                   alice.get("/api/docs"), alice.get("/api/openapi.json"), alice.get("/metrics"),
                   alice.post("/api/email-jobs", content=b"{", headers={"Content-Type": "application/json"})):
        _assert_protected(answer)
    statics = re.findall(r'(?:src|href)="(/api/docs/static/[^"]+)"', alice.get("/api/docs").text)
    assert statics
    for asset in statics:
        _assert_protected(alice.get(asset))


def test_a_demo_mode_refusal_carries_the_security_headers_too(demo):
    answer = TestClient(_app()).get("/", headers={"Host": "evil.example"})
    assert answer.status_code == 403
    _assert_protected(answer)

"""The ASGI guard around the whole app: demo mode answers only loopback hosts."""

from __future__ import annotations

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

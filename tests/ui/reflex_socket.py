"""A bare client of the UI's websocket, speaking Socket.IO as the browser does: what any script can send."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import httpx
from websockets.sync.client import connect

NAMESPACE = "/_event"
VAR_SUFFIX = "_rx_state_"  # Reflex's suffix on var names in deltas


class ReflexSocket:
    """One tab's connection: a client token, optionally a session cookie, events out and state updates in."""

    def __init__(self, app_url: str, *, token: str | None = None, cookie: str | None = None) -> None:
        self.app_url = app_url
        self.token = token or str(uuid.uuid4())
        headers = {"Origin": app_url}
        if cookie:
            headers["Cookie"] = f"mm_token={cookie}"
        url = app_url.replace("http://", "ws://") + f"{NAMESPACE}/?EIO=4&transport=websocket&token={self.token}"
        self.ws = connect(url, additional_headers=headers, open_timeout=15, max_size=None)
        assert self.ws.recv(timeout=10).startswith("0")  # Engine.IO open
        self.ws.send(f"40{NAMESPACE},")
        while not self._recv(10).startswith(f"40{NAMESPACE}"):
            pass

    def _recv(self, timeout: float) -> str:
        message = self.ws.recv(timeout=timeout)
        if message == "2":  # Engine.IO ping
            self.ws.send("3")
        return message

    def emit(self, name: str, payload: dict | None = None, path: str = "/") -> None:
        event = {"name": name, "payload": payload or {}, "router_data": {"pathname": path, "asPath": path}}
        self.ws.send(f"42{NAMESPACE}," + json.dumps(["event", event]))

    def updates(self, seconds: float = 1.0) -> list[dict]:
        """Every state update received within `seconds`."""
        received, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._recv(left)
            except TimeoutError:
                break
            prefix = f"42{NAMESPACE},"
            if message.startswith(prefix):
                name, *args = json.loads(message[len(prefix):])
                if name == "event" and args:
                    received.append(args[0])
        return received

    def delta(self, seconds: float = 1.0) -> dict[str, dict]:
        """The state updates of `seconds`, merged: {state name: {var: value}}."""
        merged: dict[str, dict] = {}
        for update in self.updates(seconds):
            for state, values in (update.get("delta") or {}).items():
                merged.setdefault(state, {}).update({k.removesuffix(VAR_SUFFIX): v for k, v in values.items()})
        return merged

    def close(self) -> None:
        self.ws.close()


def session_cookie(app_url: str, email: str) -> str:
    """Sign in through the demo-mode Google flow, as a browser would; the `mm_token` cookie's value."""
    with httpx.Client(follow_redirects=True, timeout=20) as client:
        client.get(f"{app_url}/api/auth/login?login_hint={quote(email)}&next=/")
        token = client.cookies.get("mm_token")
    assert token, f"signing in as {email} gave no session cookie"
    return token


def upload_csv(app_url: str, *, token: str, cookie: str | None, handler: str, data: bytes,
               name: str = "recipients.csv", timeout: float = 30) -> httpx.Response:
    """Post a file to the UI's upload endpoint, as the page's drop zone does."""
    headers = {"Reflex-Client-Token": token, "Reflex-Event-Handler": handler}
    cookies = {"mm_token": cookie} if cookie else None
    return httpx.post(f"{app_url}/_upload", headers=headers, cookies=cookies, timeout=timeout,
                      files={"files": (name, data, "text/csv")})

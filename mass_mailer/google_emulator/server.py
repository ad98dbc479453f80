"""Running the emulator: in a background thread for tests, or in the foreground as a command."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import uvicorn

from mass_mailer.google_emulator.app import create_app
from mass_mailer.google_emulator.config import ConfigError, config_from_env

DEFAULT_PORT = 8025


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def make_server(app: Any) -> uvicorn.Server:
    """uvicorn tuned for throughput: uvloop, httptools, no access log, no lifespan."""
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmulatorServer:
    """The emulator on a local port, served from a background thread.

    Use as a context manager: `with EmulatorServer(port=0, rate_per_minute=60) as emu: emu.url`.
    Keyword settings are those of EmulatorConfig.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        self.app = create_app(**settings)
        self._sock = listen_socket(host, port)
        bound_host, bound_port = self._sock.getsockname()[:2]
        self.url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
        self._server = make_server(self.app)
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        """Start serving; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Google emulator did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def auth_uri(self) -> str:
        return self.url + "/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    @property
    def userinfo_uri(self) -> str:
        return self.url + "/v1/userinfo"

    @property
    def revoke_uri(self) -> str:
        return self.url + "/revoke"

    @property
    def gmail_endpoint(self) -> str:
        return self.url + "/"

    @property
    def batch_uri(self) -> str:
        return self.url + "/batch/gmail/v1"

    def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        """Call one of the /_emulator endpoints over HTTP, like any outside client."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ValueError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None

    def messages(self, to: str | None = None, account: str | None = None, limit: int | None = None) -> list[dict]:
        """Delivered messages, oldest first."""
        query = {k: v for k, v in {"to": to, "account": account, "limit": limit}.items() if v is not None}
        return self._call("GET", "/_emulator/messages?" + urllib.parse.urlencode(query))["messages"]

    def stats(self) -> dict:
        return self._call("GET", "/_emulator/stats")

    def config(self) -> dict:
        return self._call("GET", "/_emulator/config")

    def configure(self, **settings: Any) -> dict:
        """Change settings at runtime; returns all current settings."""
        return self._call("POST", "/_emulator/config", settings)

    def reset(self, *, config: bool = False) -> None:
        """Clear messages, counters and tokens; with `config`, restore the starting settings."""
        self._call("POST", "/_emulator/reset", {"config": config})

    def revoke_account(self, email: str) -> int:
        """Revoke all tokens of an account; returns the number of grants revoked."""
        return self._call("POST", "/_emulator/revoke", {"email": email})["revoked"]

    def issue_tokens(
        self,
        email: str,
        scopes: list[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict:
        """Mint an access and refresh token for `email` without a browser flow."""
        payload = {"email": email, "scopes": scopes, "client_id": client_id, "client_secret": client_secret}
        return self._call("POST", "/_emulator/tokens", {k: v for k, v in payload.items() if v is not None})


def serve(app: Any, sock: socket.socket) -> None:
    """Serve `app` on `sock` in the foreground until SIGINT/SIGTERM."""
    make_server(app).run(sockets=[sock])


def main(host: str | None = None, port: int | None = None) -> int:
    """Run the emulator in the foreground (EMULATOR_HOST, EMULATOR_PORT, EMULATOR_<SETTING>)."""
    host = host or os.environ.get("EMULATOR_HOST", "127.0.0.1")
    try:
        port = int(port if port is not None else os.environ.get("EMULATOR_PORT", DEFAULT_PORT))
        config = config_from_env(os.environ)
    except (ValueError, ConfigError) as exc:
        print(f"emulator: bad setting: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(host) and os.environ.get("EMULATOR_ALLOW_REMOTE") != "1":
        print(
            f"emulator: refusing to listen on non-loopback host {host} (set EMULATOR_ALLOW_REMOTE=1)", file=sys.stderr
        )
        return 2
    try:
        sock = listen_socket(host, port)
    except OSError as exc:
        print(f"emulator: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Google emulator on http://{host}:{port} (messages: /_emulator/messages)", file=sys.stderr, flush=True)
    serve(create_app(config), sock)
    return 0

"""`python -m mass_mailer web` in demo mode as a real process: the guards cover the UI, its websocket and the API,
and the server processes Reflex starts log JSON with secrets redacted."""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mass_mailer.embedded import free_port

from .web_process import running_web


@pytest.fixture(scope="module")
def demo_web(base_env, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The web process in demo mode; its URL and the file its output goes to."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("demo-web")
    log = folder / "web.log"
    env = {**os.environ, **base_env, "PORT": str(port), "PUBLIC_URL": url, "DEMO_MODE": "1", "LOG_FORMAT": "json",
           "ALLOWED_DOMAINS": "allowed.example", "VAR_DIR": str(folder / "var")}
    with running_web(env, url, log):
        yield url, log


def websocket_status(url: str, path: str, host: str) -> int:
    """The HTTP status a websocket handshake to `path` gets with this Host header (101 = accepted)."""
    parts = urlsplit(url)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {url}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


EVENT_SOCKET = "/_event/?EIO=4&transport=websocket"


def test_demo_mode_answers_a_foreign_host_with_403_everywhere(demo_web):
    url, _ = demo_web
    for path in ("/", "/senders", "/api/health", "/api/auth/login", "/_upload", "/favicon.ico"):
        answer = httpx.get(url + path, headers={"Host": "rebound.evil.example"})
        assert answer.status_code == 403, path
        assert httpx.get(url + path, headers={"Host": f"rebound.evil.example:{urlsplit(url).port}"}
                         ).status_code == 403, path
    assert websocket_status(url, EVENT_SOCKET, "rebound.evil.example") == 403
    assert websocket_status(url, EVENT_SOCKET, "10.1.2.3:80") == 403


def test_demo_mode_serves_loopback_hosts(demo_web):
    url, _ = demo_web
    port = urlsplit(url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(url + "/", headers={"Host": host}).status_code == 200
        assert websocket_status(url, EVENT_SOCKET, host) == 101


SECURITY_HEADERS = {"content-security-policy": "frame-ancestors 'none'", "x-frame-options": "DENY",
                    "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


def test_pages_assets_and_api_answers_cannot_be_framed_by_another_site(demo_web):
    url, _ = demo_web
    page = httpx.get(url + "/")
    assets = [a for a in re.findall(r'(?:src|href)="(/[^"]+)"', page.text) if not a.startswith("//")]
    assert assets, page.text[:500]
    answers = [page, httpx.get(url + "/senders"), httpx.get(url + "/api/health"), httpx.get(url + "/no/such/page"),
               *(httpx.get(url + asset) for asset in assets[:5])]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)


def test_the_server_processes_log_json_with_secrets_redacted(demo_web):
    from tests.contract.test_child_logging import json_lines

    access_token = "ya29.a0secretaccesstokenvalue"  # shaped like a Google access token (emails are lower-cased)

    url, log = demo_web
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
    authorization = client.post("/api/auth/google", json={"login_hint": f"{access_token}@evil.example"}).json()["url"]
    back = httpx.get(authorization, timeout=10)
    query = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    refused = client.get("/api/auth/callback", params=query)
    assert refused.status_code == 403  # evil.example is not an allowed domain: the refusal is logged
    deadline = time.monotonic() + 10
    while "sign-in refused" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    app_lines = [line for line in text.splitlines() if "sign-in refused" in line]
    assert app_lines, text[-3000:]
    (record,) = json_lines(app_lines[0])
    assert record["level"] == "WARNING" and record["message"].startswith("sign-in refused for [REDACTED]@evil.example")
    assert "secretaccesstokenvalue" not in text
    json_lines(text)  # every line: ours, Reflex's and the server's (REFLEX_LOG_JSON follows LOG_FORMAT)

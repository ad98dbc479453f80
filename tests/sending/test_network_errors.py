"""A connection that breaks after a message was sent is never sent again: it could deliver twice."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from mass_mailer.embedded import free_port
from mass_mailer.gmail import client as gmail
from mass_mailer.gmail.credentials import SenderTokens
from mass_mailer.settings import reset_settings


class DroppingServer:
    """Reads each HTTP request whole, then closes the connection without answering."""

    def __init__(self) -> None:
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1


def _client() -> gmail.GmailClient:
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    return gmail.GmailClient(SenderTokens("access-token", "refresh-token", expiry))


def test_a_dropped_connection_after_the_send_fails_the_recipient_without_resending(monkeypatch):
    server = DroppingServer()
    monkeypatch.setenv("GMAIL_API_ENDPOINT", f"http://127.0.0.1:{server.port}/")
    reset_settings()
    with pytest.raises(gmail.PermanentError) as failure:
        _client().send("cmF3")
    assert failure.value.reason.startswith("delivery unknown")
    assert server.requests == 1  # httplib2 would otherwise have sent the same message a second time
    server.sock.close()


def test_a_refused_connection_is_a_temporary_error_to_retry(monkeypatch):
    monkeypatch.setenv("GMAIL_API_ENDPOINT", f"http://127.0.0.1:{free_port()}/")
    reset_settings()
    with pytest.raises(gmail.TemporaryError):
        _client().send("cmF3")

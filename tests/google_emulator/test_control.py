"""The emulator's own endpoints, settings and command-line entry."""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import pytest

from mass_mailer.google_emulator import EmulatorServer, main
from mass_mailer.google_emulator.config import ConfigError, config_from_env

pytestmark = pytest.mark.no_services  # only the emulator, started here


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(port=0, rate_per_minute=50) as emu:
        yield emu


@pytest.fixture
def emu(server):
    server.reset(config=True)
    return server


def send(emu, sender, to, subject):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"], message["Message-ID"] = formatdate(), make_msgid(domain="example.com")
    message.set_content("hi")
    token = emu.issue_tokens(sender)["access_token"]
    return httpx.post(
        emu.url + "/gmail/v1/users/me/messages/send",
        json={"raw": base64.urlsafe_b64encode(message.as_bytes()).decode().rstrip("=")},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_messages_filter_by_recipient_account_and_limit(emu):
    for n in range(3):
        assert send(emu, "a@example.com", f"r{n}@example.com", f"S{n}").status_code == 200
    assert send(emu, "b@example.com", "r0@example.com", "From B").status_code == 200

    assert [m["subject"] for m in emu.messages(to="R0@example.com")] == ["S0", "From B"]
    assert [m["subject"] for m in emu.messages(account="b@example.com")] == ["From B"]
    assert [m["subject"] for m in emu.messages(limit=2)] == ["S2", "From B"]
    message = emu.messages(limit=1)[0]
    assert message["message_id"] and message["date"] and message["received_at"].endswith("Z")


def test_stats_report_duplicate_deliveries(emu):
    for _ in range(3):
        send(emu, "a@example.com", "twice@example.com", "Same subject")
    send(emu, "a@example.com", "once@example.com", "Same subject")

    stats = emu.stats()
    assert stats["duplicates"] == {"twice@example.com": {"Same subject": 3}}
    assert stats["duplicate_deliveries"] == 2 and stats["total_sent"] == 4
    assert stats["accounts"]["a@example.com"]["sent"] == 4 and stats["requests"] >= 8


def test_config_is_validated_and_reset_restores_the_starting_one(emu):
    assert emu.config()["rate_per_minute"] == 50
    assert emu.configure(latency_ms=5, drop_scopes="email")["drop_scopes"] == [
        "https://www.googleapis.com/auth/userinfo.email"
    ]
    for bad in ({"no_such_setting": 1}, {"fault_503_rate": 1.5}, {"daily_limit": "many"}):
        reply = httpx.post(emu.url + "/_emulator/config", json=bad)
        assert reply.status_code == 400 and reply.json()["error"]
    emu.reset()
    assert emu.config()["latency_ms"] == 5
    emu.reset(config=True)
    assert emu.config()["latency_ms"] == 0


def test_reset_forgets_messages_and_tokens(emu):
    token = emu.issue_tokens("a@example.com")["access_token"]
    send(emu, "a@example.com", "r@example.com", "x")
    emu.reset()
    assert emu.messages() == [] and emu.stats()["total_sent"] == 0
    reply = httpx.get(emu.userinfo_uri, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401


def test_revoking_an_access_token_revokes_its_refresh_token(emu):
    tokens = emu.issue_tokens("a@example.com", client_secret="s")
    assert httpx.post(emu.revoke_uri, params={"token": tokens["access_token"]}).json() == {}
    refresh = httpx.post(
        emu.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": tokens["client_id"],
            "client_secret": "s",
        },
    )
    assert refresh.status_code == 400
    assert refresh.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    assert httpx.post(emu.revoke_uri, data={"token": "unknown"}).json()["error"] == "invalid_token"


def test_settings_from_environment():
    config = config_from_env(
        {"EMULATOR_LATENCY_MS": "25", "EMULATOR_RATE_PER_MINUTE": "60", "EMULATOR_DAILY_LIMIT": "off"}
    )
    assert (config.latency_ms, config.rate_per_minute, config.daily_limit) == (25.0, 60, 0)
    with pytest.raises(ConfigError, match="fault_429_rate"):
        config_from_env({"EMULATOR_FAULT_429_RATE": "2"})


def test_main_refuses_a_non_loopback_host(monkeypatch, capsys):
    monkeypatch.delenv("EMULATOR_ALLOW_REMOTE", raising=False)
    assert main(host="0.0.0.0") == 2
    assert "EMULATOR_ALLOW_REMOTE" in capsys.readouterr().err


def test_module_entry_serves_with_env_settings_and_stops_on_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "EMULATOR_PORT": str(port), "EMULATOR_DAILY_LIMIT": "7"}
    process = subprocess.Popen([sys.executable, "-m", "mass_mailer.google_emulator"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/_emulator/config").json()
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert config["daily_limit"] == 7
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: the conventional exit.
        assert process.wait(timeout=10) in (0, -signal.SIGTERM)
        assert b"Traceback" not in process.stderr.read()

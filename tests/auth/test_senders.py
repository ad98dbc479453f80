"""Connecting Gmail senders: consent, storage, ownership, health checks, removal and key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import select

from mass_mailer import crypto
from mass_mailer.commands import COMMANDS
from mass_mailer.db import session_scope
from mass_mailer.gmail.credentials import ReauthRequired, build_credentials, refresh
from mass_mailer.models import Sender
from mass_mailer.services import senders as sender_service
from mass_mailer.settings import reset_settings

SENDER_FIELDS = {"id", "email", "status", "daily_quota", "sent_last_24h", "remaining_today", "created_at"}


def _raw_senders() -> list[dict]:
    with session_scope() as session:
        return [dict(r._mapping) for r in session.execute(text("SELECT * FROM senders ORDER BY id"))]


def _connected(agent, *emails: str) -> list[dict]:
    for email in emails:
        answer = agent.connect_sender(email)
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"] == f"/senders?connected={email.replace('@', '%40')}"
    return agent.get("/api/senders").json()


def test_connect_three_senders_login_hint_picks_the_account(signed_in):
    alice = signed_in("alice@example.com")
    listed = _connected(alice, "one@example.com", "two@example.com", "three@example.com")
    assert [s["email"] for s in listed] == ["one@example.com", "two@example.com", "three@example.com"]
    for sender in listed:
        assert SENDER_FIELDS <= set(sender)
        assert sender["status"] == "active" and sender["daily_quota"] == 2000
        assert sender["sent_last_24h"] == 0 and sender["remaining_today"] == 2000
        assert not any("token" in key for key in sender)


def test_connect_url_asks_for_gmail_send_offline_with_consent(signed_in):
    url = signed_in("alice@example.com").start_connect("one@example.com", daily_quota=50)
    for part in ("gmail.send", "access_type=offline", "prompt=consent", "include_granted_scopes=true",
                 "code_challenge_method=S256", "login_hint=one%40example.com", "userinfo.email", "openid"):
        assert part in url


def test_daily_quota_from_the_connect_request_and_patch(signed_in):
    alice = signed_in("alice@example.com")
    alice.connect_sender("one@example.com", daily_quota=50)
    (sender,) = alice.get("/api/senders").json()
    assert sender["daily_quota"] == 50
    answer = alice.patch(f"/api/senders/{sender['id']}", json={"daily_quota": 120})
    assert answer.status_code == 200 and answer.json()["daily_quota"] == 120
    for bad in ({"daily_quota": 0}, {"daily_quota": 10_001}, {"daily_quota": "many"}, {}, {"status": "active"}):
        assert alice.patch(f"/api/senders/{sender['id']}", json=bad).status_code == 422, bad
    assert alice.post("/api/senders", json={"daily_quota": 0}).status_code == 422
    assert alice.get(f"/api/senders/{sender['id']}").json()["daily_quota"] == 120


def test_tokens_are_encrypted_in_the_database(signed_in, emulator):
    alice = signed_in("alice@example.com")
    _connected(alice, "one@example.com")
    (row,) = _raw_senders()
    access, refresh_token = crypto.decrypt(row["access_token"]), crypto.decrypt(row["refresh_token"])
    assert access and refresh_token
    assert access not in row["access_token"] and refresh_token not in row["refresh_token"]
    # The decrypted refresh token is the real one: Google (the emulator) accepts it.
    with session_scope() as session:
        tokens = sender_service.load_tokens(session.get(Sender, row["id"]))
    assert refresh(build_credentials(tokens)).access_token


def test_grant_without_gmail_send_is_refused_and_nothing_stored(signed_in, emulator_config):
    alice = signed_in("alice@example.com")
    emulator_config(drop_scopes=["https://www.googleapis.com/auth/gmail.send"])
    answer = alice.connect_sender("one@example.com")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("Gmail send permission was not granted")
    assert _raw_senders() == []


def test_browser_connection_reports_refusal_by_redirect(signed_in, emulator_config):
    alice = signed_in("alice@example.com")
    emulator_config(drop_scopes=["https://www.googleapis.com/auth/gmail.send"])
    start = alice.get("/api/senders/connect", params={"login_hint": "one@example.com", "daily_quota": 10})
    assert start.status_code == 302 and "mm_oauth=" in start.headers["set-cookie"]
    answer = alice.callback(alice.consent(start.headers["location"]))
    assert answer.status_code == 302
    assert answer.headers["location"] == "/senders?error=no_send_permission"
    assert _raw_senders() == []


def test_callback_must_come_with_the_same_signed_in_user(signed_in):
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    params = alice.consent(alice.start_connect("one@example.com"))
    alice.client.cookies.set("mm_token", bob.token, domain="127.0.0.1", path="/")
    assert alice.callback(params).status_code == 403
    assert _raw_senders() == []


def test_revoked_refresh_token_then_check_then_reconnect(signed_in, emulator):
    alice = signed_in("alice@example.com")
    (sender,) = _connected(alice, "one@example.com")
    assert alice.post(f"/api/senders/{sender['id']}/check").json()["status"] == "active"
    emulator.revoke_account("one@example.com")
    checked = alice.post(f"/api/senders/{sender['id']}/check").json()
    assert checked["status"] == "reauth_required"
    assert checked["last_error"].startswith("Reconnect needed: invalid_grant")
    (again,) = _connected(alice, "one@example.com")
    assert again["id"] == sender["id"] and again["status"] == "active" and again["last_error"] is None
    assert alice.post(f"/api/senders/{sender['id']}/check").json()["status"] == "active"


def test_another_users_sender_is_404(signed_in):
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    (sender,) = _connected(alice, "one@example.com")
    path = f"/api/senders/{sender['id']}"
    assert bob.get(path).status_code == 404
    assert bob.patch(path, json={"daily_quota": 5}).status_code == 404
    assert bob.delete(path).status_code == 404
    assert bob.post(path + "/check").status_code == 404
    assert bob.get("/api/senders").json() == []
    assert alice.get(path).json()["daily_quota"] == 2000
    assert alice.get("/api/senders/999999").status_code == 404
    assert alice.get("/api/senders/not-a-number").status_code == 422


def test_delete_revokes_at_google_and_keeps_the_row(signed_in):
    alice = signed_in("alice@example.com")
    one, two = _connected(alice, "one@example.com", "two@example.com")
    with session_scope() as session:
        tokens = sender_service.load_tokens(session.get(Sender, one["id"]))
    assert alice.delete(f"/api/senders/{one['id']}").status_code == 204
    assert [s["email"] for s in alice.get("/api/senders").json()] == ["two@example.com"]
    assert alice.get(f"/api/senders/{one['id']}").status_code == 404
    with pytest.raises(ReauthRequired):
        refresh(build_credentials(tokens))  # Google no longer honours the removed sender's token
    row = _raw_senders()[0]
    assert row["deleted_at"] is not None and row["access_token"] is None and row["refresh_token"] is None
    # Connecting the address again brings the same row back.
    assert [s["id"] for s in _connected(alice, "one@example.com")] == [one["id"], two["id"]]


def test_stats_per_sender_and_total(signed_in):
    alice = signed_in("alice@example.com")
    _connected(alice, "one@example.com", "two@example.com")
    stats = alice.get("/api/senders/stats").json()
    assert [s["email"] for s in stats["senders"]] == ["one@example.com", "two@example.com"]
    assert stats["total"] == {"sent_24h": 0, "failed_24h": 0, "sent_total": 0, "failed_total": 0,
                              "delivery_unknown_24h": 0, "delivery_unknown_total": 0, "remaining_today": 4000}


def test_sender_connection_is_rate_limited_per_user(signed_in, monkeypatch):
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    monkeypatch.setenv("SENDER_CONNECT_RATE_LIMIT", "2/minute")
    reset_settings()
    assert alice.post("/api/senders").status_code == 200
    assert alice.get("/api/senders/connect").status_code == 302
    limited = alice.post("/api/senders")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert bob.post("/api/senders").status_code == 200


def test_rotate_keys_re_encrypts_every_token_with_the_new_key(signed_in, monkeypatch, capsys):
    alice = signed_in("alice@example.com")
    _connected(alice, "one@example.com", "two@example.com")
    before = {r["id"]: (crypto.decrypt(r["access_token"]), crypto.decrypt(r["refresh_token"])) for r in _raw_senders()}
    old_key, new_key = crypto.get_settings().fernet_keys[0], Fernet.generate_key().decode()

    def use_keys(*keys: str) -> None:
        monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", ",".join(keys))
        reset_settings()
        crypto.reset_keys()

    use_keys(new_key, old_key)
    assert COMMANDS["rotate-keys"]() == 0
    assert "2 sender(s)" in capsys.readouterr().out
    use_keys(new_key)
    after = {r["id"]: (crypto.decrypt(r["access_token"]), crypto.decrypt(r["refresh_token"])) for r in _raw_senders()}
    assert after == before
    use_keys(old_key)
    with pytest.raises(crypto.TokenDecryptionError):
        crypto.decrypt(_raw_senders()[0]["refresh_token"])


def test_no_token_in_any_sender_response(signed_in):
    alice = signed_in("alice@example.com")
    _connected(alice, "one@example.com")
    secrets = [v for r in _raw_senders() for v in (crypto.decrypt(r["access_token"]),
                                                    crypto.decrypt(r["refresh_token"]))]
    (sender,) = alice.get("/api/senders").json()
    bodies = [alice.get("/api/senders").text, alice.get(f"/api/senders/{sender['id']}").text,
              alice.get("/api/senders/stats").text, alice.post(f"/api/senders/{sender['id']}/check").text]
    for secret in secrets:
        assert all(secret not in body for body in bodies)
    with session_scope() as session:
        assert "https://www.googleapis.com/auth/gmail.send" in session.exec(select(Sender)).one().scopes.split()


def test_grant_without_refresh_token_is_refused(signed_in):
    from mass_mailer.errors import InvalidInput
    from mass_mailer.gmail.oauth import Grant

    user_id = signed_in("alice@example.com").get("/api/auth/me").json()["id"]
    grant = Grant(access_token="a", refresh_token=None, expiry=None,
                  scopes={"openid", "https://www.googleapis.com/auth/gmail.send"})
    with session_scope() as session, pytest.raises(InvalidInput, match="no refresh token"):
        sender_service.store_connected_sender(session=session, user_id=user_id, email="one@example.com",
                                              grant=grant, daily_quota=None)
    assert _raw_senders() == []


def test_no_token_in_log_lines(signed_in, emulator, caplog):
    caplog.set_level("DEBUG")
    alice = signed_in("alice@example.com")
    (sender,) = _connected(alice, "one@example.com")
    secrets = [crypto.decrypt(_raw_senders()[0][c]) for c in ("access_token", "refresh_token")] + [alice.token]
    emulator.revoke_account("one@example.com")
    alice.post(f"/api/senders/{sender['id']}/check")
    alice.delete(f"/api/senders/{sender['id']}")
    assert "needs reconnecting" in caplog.text
    assert all(secret not in caplog.text for secret in secrets)


def test_browser_connection_success_redirects_to_senders_page(signed_in, browser):
    alice = signed_in("alice@example.com")
    start = alice.get("/api/senders/connect", params={"login_hint": "one@example.com", "daily_quota": 10})
    answer = alice.callback(alice.consent(start.headers["location"]))
    assert answer.headers["location"] == "/senders?connected=one%40example.com"
    listed = alice.get("/api/senders").json()
    assert [(s["email"], s["daily_quota"]) for s in listed] == [("one@example.com", 10)]
    assert browser.get("/api/senders/connect").status_code == 401  # signed out

"""A token no configured key decrypts marks its sender reauth_required with a clear reason; nothing crashes."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session

from mass_mailer import crypto
from mass_mailer.db import get_engine
from mass_mailer.models import Sender
from mass_mailer.settings import reset_settings
from tests.sending.conftest import job_row, recipient_rows, wait_for


def _encrypt_with_an_unknown_key(sender_id: int) -> None:
    stranger = Fernet(Fernet.generate_key())  # e.g. the key removed from TOKEN_ENCRYPTION_KEYS too early
    with Session(get_engine()) as session:
        sender = session.get(Sender, sender_id)
        sender.access_token = stranger.encrypt(b"ya29.access").decode()
        sender.refresh_token = stranger.encrypt(b"1//refresh-token-value").decode()
        session.add(sender)
        session.commit()


def _sender(sender_id: int) -> Sender:
    with Session(get_engine()) as session:
        return session.get(Sender, sender_id)


def test_the_worker_takes_such_a_sender_out_and_the_job_goes_on_with_the_others(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    broken, healthy = make_sender(user, "broken@example.com"), make_sender(user, "healthy@example.com")
    _encrypt_with_an_unknown_key(broken.id)
    engine()
    answer = api(user).post("/api/email-jobs", json={"subject": "s", "html_content": "<p>x</p>",
                                                     "recipients": [{"email": f"u{i}@example.com"} for i in range(20)],
                                                     "sender_ids": [broken.id, healthy.id]})
    job_id = answer.json()["id"]
    wait_for(lambda: _sender(broken.id).status == "reauth_required", 30, message="the broken sender taken out")
    assert "cannot be decrypted with TOKEN_ENCRYPTION_KEYS" in _sender(broken.id).last_error
    wait_for(lambda: job_row(job_id).status == "completed", 60, message="the job finished by the healthy sender")
    assert {m["account"] for m in emulator.messages()} == {"healthy@example.com"}
    assert {r["status"] for r in recipient_rows(job_id)} == {"sent"}
    assert api(user).get(f"/api/senders/{broken.id}").json()["status"] == "reauth_required"


def test_with_no_other_sender_the_job_waits_and_sends_nothing(make_user, make_sender, api, engine, emulator):
    user = make_user()
    broken = make_sender(user, "broken@example.com")
    _encrypt_with_an_unknown_key(broken.id)
    engine()
    answer = api(user).post("/api/email-jobs", json={"subject": "s", "html_content": "<p>x</p>",
                                                     "recipients": [{"email": "a@example.com"}]})
    job_id = answer.json()["id"]
    wait_for(lambda: _sender(broken.id).status == "reauth_required", 30, message="the broken sender taken out")
    time.sleep(2)
    assert job_row(job_id).status == "in_progress" and emulator.messages() == []
    assert [r["status"] for r in recipient_rows(job_id)] == ["pending"]


def test_check_marks_it_reauth_required_instead_of_failing(make_user, make_sender, api):
    user = make_user()
    broken = make_sender(user, "broken@example.com")
    _encrypt_with_an_unknown_key(broken.id)
    answer = api(user).post(f"/api/senders/{broken.id}/check")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "reauth_required"
    assert "cannot be decrypted" in answer.json()["last_error"] and "connect the account again" in (
        answer.json()["last_error"])


def test_such_a_sender_can_still_be_removed(make_user, make_sender, api):
    user = make_user()
    broken = make_sender(user, "broken@example.com")
    _encrypt_with_an_unknown_key(broken.id)
    assert api(user).delete(f"/api/senders/{broken.id}").status_code == 204
    assert api(user).get("/api/senders").json() == []


@pytest.fixture
def dotenv_keys(tmp_path, monkeypatch):
    """TOKEN_ENCRYPTION_KEYS read from a .env file that can be edited while the process runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEYS")
    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 0.0)

    def write(*keys: str) -> None:
        (tmp_path / ".env").write_text(f"TOKEN_ENCRYPTION_KEYS={','.join(keys)}\n")
    return write


def test_a_running_process_follows_key_rotation_in_dotenv(dotenv_keys):
    old, new, later = (Fernet.generate_key().decode() for _ in range(3))
    dotenv_keys(old)
    reset_settings()
    crypto.reset_keys()
    by_old = crypto.encrypt("token-1")
    assert Fernet(old.encode()).decrypt(by_old.encode()) == b"token-1"
    dotenv_keys(new, old)  # rotation, step 1: the new key first; this process was not restarted
    by_new = crypto.encrypt("token-2")
    assert Fernet(new.encode()).decrypt(by_new.encode()) == b"token-2"
    assert crypto.decrypt(by_old) == "token-1"
    made_elsewhere = Fernet(later.encode()).encrypt(b"token-3").decode()
    dotenv_keys(later, new)  # another process rotated again and dropped the old key
    assert crypto.decrypt(made_elsewhere) == "token-3"
    with pytest.raises(crypto.TokenDecryptionError):
        crypto.decrypt(by_old)

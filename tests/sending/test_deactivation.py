"""A deactivated owner's job sends nothing more, even with batches in flight, and loses no recipient."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import text

from mass_mailer.db import get_engine
from tests.sending.conftest import job_row, recipient_rows, wait_for, wait_job_done


def _start_job(make_user, make_sender, api, engine, emulator, count: int = 150):
    owner = make_user("owner@example.com")
    for i in range(2):
        make_sender(owner, f"s{i}@example.com")
    emulator.configure(latency_ms=50)
    engine(SENDER_RATE_PER_MINUTE="120")  # 4 sends a second over both senders: the job runs ~40 s
    answer = api(owner).post("/api/email-jobs", json={"subject": "Hi", "html_content": "<p>x</p>",
                                                      "recipients": [{"email": f"d{i}@example.com"}
                                                                     for i in range(count)]})
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    wait_for(lambda: job_row(job_id).sent_count >= 10, 30, message="some sends")
    return owner, job_id


def _nothing_in_flight(job_id: int) -> bool:
    return all(r["status"] != "sending" for r in recipient_rows(job_id))


def _assert_no_more_mail_and_nothing_lost(job_id: int, emulator) -> None:
    wait_for(lambda: _nothing_in_flight(job_id), 15, message="sends in flight to settle")
    delivered = len(emulator.messages())
    time.sleep(3)  # about 12 pace slots of the two senders
    assert len(emulator.messages()) == delivered, "mail kept going out after the owner was deactivated"
    job = wait_job_done(job_id, timeout=30)
    rows = recipient_rows(job_id)
    assert job.status == "cancelled"
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"sent", "cancelled", "failed"} and statuses["cancelled"] > 0
    sent_to = [m["to"] for m in emulator.messages()]
    assert len(sent_to) == len(set(sent_to)) and emulator.stats()["duplicates"] == {}
    assert set(sent_to) == {r["email"] for r in rows if r["status"] == "sent"}


def test_an_owner_deactivated_in_the_database_stops_their_running_job(make_user, make_sender, api, engine, emulator):
    """The claim itself checks the owner: even when the deactivation's own cancelling never ran."""
    owner, job_id = _start_job(make_user, make_sender, api, engine, emulator)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": owner.id})
    _assert_no_more_mail_and_nothing_lost(job_id, emulator)


def test_an_admin_deactivating_the_owner_stops_their_running_job(make_user, make_sender, api, engine, emulator):
    owner, job_id = _start_job(make_user, make_sender, api, engine, emulator)
    admin = make_user("admin@example.com")
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": admin.id})
    answer = api(admin).patch(f"/api/users/{owner.id}", json={"is_active": False})
    assert answer.status_code == 200 and answer.json()["is_active"] is False
    _assert_no_more_mail_and_nothing_lost(job_id, emulator)

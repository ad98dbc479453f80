"""Sender limits hold across workers, and a sender that cannot send hands its recipients to the others."""

from __future__ import annotations

import time

from sqlmodel import Session

from mass_mailer.db import get_engine
from mass_mailer.models import Sender
from tests.sending.conftest import job_row, recipient_rows, sent_now, wait_for, wait_job_done


def _job(client, count: int, prefix: str = "r", **extra) -> int:
    answer = client.post("/api/email-jobs", json={
        "subject": "Hi {{ email }}", "html_content": "<p>Hello</p>",
        "recipients": [{"email": f"{prefix}{i}@example.com"} for i in range(count)], **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_pace_per_minute_is_held_across_two_worker_processes(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "paced@example.com")
    emulator.configure(rate_per_minute=120)
    engine(SENDER_RATE_PER_MINUTE="120", WORKER_PROCESSES="2", WORKER_THREADS="4")
    job_id = _job(api(user), 300)
    first = wait_for(lambda: sent_now(job_id), 30, every=0.05, message="the first send")
    time.sleep(15)
    sent = sent_now(job_id) - first
    assert emulator.stats()["rate_violations"] == 0
    assert 26 <= sent <= 31, sent  # 2 per second, evenly; no burst beyond the pace


def test_daily_quota_is_never_exceeded_and_the_job_waits(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "small@example.com", daily_quota=25)
    engine()
    client = api(user)
    job_id = _job(client, 40)
    wait_for(lambda: job_row(job_id).sent_count == 25, 30, message="quota used up")
    time.sleep(2)
    job = job_row(job_id)
    assert (job.status, job.sent_count) == ("in_progress", 25)
    assert len(emulator.messages()) == 25
    status = client.get(f"/api/email-jobs/{job_id}/status").json()
    assert status["pending"] == 15 and status["waiting_reason"]


def test_revoked_and_exhausted_senders_hand_their_recipients_to_the_others(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    revoked = make_sender(user, "revoked@example.com")
    exhausted = make_sender(user, "exhausted@example.com")
    healthy = make_sender(user, "healthy@example.com")
    emulator.configure(daily_limit=10)  # Gmail's own daily limit, below the app's quota
    engine(SENDER_RATE_PER_MINUTE="300")
    client = api(user)
    warm_up = _job(client, 10, prefix="w", sender_ids=[exhausted.id])  # uses up Gmail's limit for this account
    assert wait_job_done(warm_up).sent_count == 10
    emulator.revoke_account(revoked.email)

    job = wait_job_done(_job(client, 8), timeout=60)
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 8, 0)
    with Session(get_engine()) as session:
        states = {s.email: (s.status, s.quota_reset_at) for s in
                  [session.get(Sender, x.id) for x in (revoked, exhausted, healthy)]}
    assert states["revoked@example.com"][0] == "reauth_required"
    assert states["exhausted@example.com"][0] == "quota_exhausted" and states["exhausted@example.com"][1]
    assert states["healthy@example.com"][0] == "active"
    assert emulator.stats()["duplicates"] == {}
    assert {m["to"] for m in emulator.messages(account=healthy.email)} == {f"r{i}@example.com" for i in range(8)}
    assert {r["sender"] for r in recipient_rows(job.id)} == {healthy.email}

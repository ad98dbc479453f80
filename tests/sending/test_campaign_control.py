"""Campaign control on the one lifecycle: pause/resume, scheduling, retrying failures, against the real engine."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlmodel import Session

from mass_mailer import db
from mass_mailer.gmail.oauth import Grant
from mass_mailer.services import senders
from tests.sending.conftest import job_row, recipient_rows, wait_for, wait_job_done


def _create(client, count: int, prefix: str = "r", **extra) -> int:
    answer = client.post("/api/email-jobs", json={
        "subject": "Hello {{ email }}", "html_content": "<p>Hi</p>",
        "recipients": [{"email": f"{prefix}{i}@example.com"} for i in range(count)], **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _delivered_once(emulator, job_id: int) -> None:
    delivered = [m["to"] for m in emulator.messages()]
    assert len(delivered) == len(set(delivered)) and emulator.stats()["duplicates"] == {}
    sent = {r["email"] for r in recipient_rows(job_id) if r["status"] == "sent"}
    assert sent == set(delivered)


def test_pause_stops_sends_within_two_seconds_and_resume_completes_exactly_once(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    for i in range(2):
        make_sender(user, f"p{i}@example.com")
    engine(SENDER_RATE_PER_MINUTE="300")
    client = api(user)
    job_id = _create(client, 150)
    wait_for(lambda: job_row(job_id).sent_count >= 45, 60, message="30% sent")
    paused = client.post(f"/api/email-jobs/{job_id}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    time.sleep(2)
    at_rest = len(emulator.messages())
    time.sleep(3)
    assert len(emulator.messages()) == at_rest, "sends went on after the pause"
    assert at_rest < 150
    assert client.post(f"/api/email-jobs/{job_id}/pause").status_code == 409
    status = client.get(f"/api/email-jobs/{job_id}/status").json()
    assert status["status"] == "paused" and status["pending"] == 150 - at_rest

    resumed = client.post(f"/api/email-jobs/{job_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "in_progress"
    assert client.post(f"/api/email-jobs/{job_id}/resume").status_code == 409
    job = wait_job_done(job_id, 90)
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 150, 0)
    _delivered_once(emulator, job_id)
    assert len(emulator.messages()) == 150


def test_a_scheduled_job_sends_nothing_before_its_time_and_starts_on_time(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "sched@example.com")
    engine()
    client = api(user)
    send_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=20)
    local = send_at.astimezone(timezone(timedelta(hours=-5)))  # any offset is understood
    created = client.post("/api/email-jobs", json={"subject": "Later", "html_content": "<p>x</p>",
                                                   "recipients": [{"email": "early@example.com"}],
                                                   "send_at": local.isoformat()})
    assert created.status_code == 201 and created.json()["status"] == "scheduled"
    job_id = created.json()["id"]
    view = client.get(f"/api/email-jobs/{job_id}").json()
    assert datetime.fromisoformat(view["send_at"]) == send_at
    while datetime.now(timezone.utc) < send_at - timedelta(seconds=0.5):
        assert emulator.messages() == [] and job_row(job_id).status == "scheduled"
        time.sleep(0.5)
    wait_for(lambda: emulator.messages(), 10, every=0.1, message="the scheduled send")
    assert datetime.now(timezone.utc) - send_at < timedelta(seconds=5)
    job = wait_job_done(job_id, 30)
    assert job.status == "completed" and job.started_at >= send_at


def test_scheduling_rules_reschedule_start_now_and_cancel(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "rules@example.com")
    client = api(user)
    now = datetime.now(timezone.utc)
    base = {"subject": "S", "html_content": "<p>x</p>", "recipients": [{"email": "a@example.com"}]}
    for bad in ((now - timedelta(hours=1)).isoformat(), (now + timedelta(days=400)).isoformat(),
                "2026-13-01T09:00:00+01:00", "2027-01-10T09:00:00"):
        refused = client.post("/api/email-jobs", json=base | {"send_at": bad})
        assert refused.status_code == 400, (bad, refused.text)
    upload = client.post("/api/email-jobs", data={"subject": "S", "html_content": "<p>x</p>",
                                                  "send_at": (now + timedelta(hours=2)).isoformat()},
                         files={"recipients": ("r.csv", b"email\nb@example.com\n", "text/csv")})
    assert upload.status_code == 201 and upload.json()["status"] == "scheduled"

    job_id = client.post("/api/email-jobs", json=base | {"send_at": (now + timedelta(hours=1)).isoformat()}).json()["id"]
    later = (now + timedelta(hours=3)).replace(microsecond=0)
    moved = client.patch(f"/api/email-jobs/{job_id}", json={"send_at": later.isoformat()})
    assert moved.status_code == 200 and datetime.fromisoformat(moved.json()["send_at"]) == later
    assert client.patch(f"/api/email-jobs/{job_id}",
                        json={"send_at": (now - timedelta(days=1)).isoformat()}).status_code == 400
    assert client.post(f"/api/email-jobs/{job_id}/pause").status_code == 409
    engine()
    started = client.post(f"/api/email-jobs/{job_id}/start")
    assert started.status_code == 200 and started.json()["status"] == "queued"
    assert wait_job_done(job_id, 30).status == "completed"
    assert client.patch(f"/api/email-jobs/{job_id}", json={"send_at": later.isoformat()}).status_code == 409
    assert [m["to"] for m in emulator.messages()] == ["a@example.com"]

    cancelled = client.delete(f"/api/email-jobs/{upload.json()['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert {r["status"] for r in recipient_rows(upload.json()["id"])} == {"cancelled"}
    paused_id = _create(client, 3, prefix="pc")
    client.post(f"/api/email-jobs/{paused_id}/pause")
    assert client.delete(f"/api/email-jobs/{paused_id}").json()["status"] == "cancelled"
    time.sleep(1)
    assert "b@example.com" not in {m["to"] for m in emulator.messages()}


def test_retry_resends_only_retryable_failures(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "retry@example.com")
    emulator.configure(fault_503_rate=1.0, reject_recipients=["bad0@example.com", "bad1@example.com"])
    engine(MAX_ATTEMPTS="2")
    client = api(user)
    emails = [f"bad{i}@example.com" for i in range(2)] + [f"ok{i}@example.com" for i in range(6)]
    job_id = client.post("/api/email-jobs", json={"subject": "S", "html_content": "<p>x</p>",
                                                  "recipients": [{"email": e} for e in emails]}).json()["id"]
    job = wait_job_done(job_id, 90)
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 0, 8)  # every send met a 503
    assert client.post(f"/api/email-jobs/{job_id}/retry").json()["requeued"] == 8  # all were temporary
    job = wait_job_done(job_id, 90)
    assert job.failed_count == 8

    emulator.configure(fault_503_rate=0.0)
    answer = client.post(f"/api/email-jobs/{job_id}/retry")
    assert answer.status_code == 200 and answer.json()["requeued"] == 8
    job = wait_job_done(job_id, 60)
    rows = {r["email"]: r for r in recipient_rows(job_id)}
    assert {e for e, r in rows.items() if r["status"] == "sent"} == {f"ok{i}@example.com" for i in range(6)}
    assert {e for e, r in rows.items() if r["status"] == "failed"} == {"bad0@example.com", "bad1@example.com"}
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 6, 2)
    refused = client.post(f"/api/email-jobs/{job_id}/retry")  # only permanent failures are left
    assert refused.status_code == 409 and job_row(job_id).status == "completed"
    _delivered_once(emulator, job_id)


def test_delivery_unknown_is_retried_only_when_asked(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "unknown@example.com")
    engine()
    client = api(user)
    job_id = _create(client, 3, prefix="u")
    wait_job_done(job_id, 30)
    with db.get_engine().begin() as conn:  # as a worker that died mid-send leaves it (see test_recovery)
        conn.execute(text("UPDATE email_recipients SET status = 'delivery_unknown', error_message = 'unknown' "
                          "WHERE email = 'u0@example.com'"))
        conn.execute(text("UPDATE email_jobs SET sent_count = 2, delivery_unknown_count = 1"))
    before = len(emulator.messages())
    refused = client.post(f"/api/email-jobs/{job_id}/retry")
    assert refused.status_code == 409 and "include_unknown" in refused.json()["detail"]
    listed = client.get(f"/api/email-jobs/{job_id}/recipients", params={"status": "delivery_unknown"}).json()
    assert [r["email"] for r in listed["items"]] == ["u0@example.com"]
    answer = client.post(f"/api/email-jobs/{job_id}/retry", json={"include_unknown": True})
    assert answer.status_code == 200 and answer.json()["requeued"] == 1
    job = wait_job_done(job_id, 30)
    assert (job.sent_count, job.delivery_unknown_count) == (3, 0)
    assert [m["to"] for m in emulator.messages()][before:] == ["u0@example.com"]


def test_a_revoked_senders_recipients_go_out_once_it_is_reconnected(make_user, make_sender, api, engine, emulator):
    user = make_user()
    sender = make_sender(user, "revoked@example.com")
    engine(SENDER_RATE_PER_MINUTE="120")
    client = api(user)
    job_id = _create(client, 30, prefix="v")
    wait_for(lambda: job_row(job_id).sent_count >= 3, 30, message="some sends")
    emulator.revoke_account("revoked@example.com")
    wait_for(lambda: client.get(f"/api/email-jobs/{job_id}/status").json()["waiting_reason"], 30,
             message="the job waits for a sender")
    assert client.get(f"/api/senders/{sender.id}").json()["status"] == "reauth_required"
    # The sender is removed: the job can no longer run and fails, its unsent recipients failed for lack of a sender.
    assert client.delete(f"/api/senders/{sender.id}").status_code == 204
    job = wait_job_done(job_id, 30)
    assert job.status == "failed"
    unsent = [r for r in recipient_rows(job_id) if r["status"] != "sent"]
    assert unsent and all(r["status"] == "failed" for r in unsent)
    # Connected again (the same address reuses its row), then "Retry failed": they go out, once each.
    issued = emulator.issue_tokens("revoked@example.com")
    with Session(db.get_engine()) as session:
        reconnected = senders.store_connected_sender(
            session=session, user_id=user.id, email="revoked@example.com", daily_quota=None,
            grant=Grant(issued["access_token"], issued["refresh_token"], None, set(issued["scope"].split())))
    assert reconnected.id == sender.id and reconnected.status == "active"
    answer = client.post(f"/api/email-jobs/{job_id}/retry")
    assert answer.status_code == 200 and answer.json()["requeued"] == len(unsent)
    job = wait_job_done(job_id, 60)
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 30, 0)
    _delivered_once(emulator, job_id)


def test_the_specifications_columns_hold_true_values_after_a_job(make_user, make_sender, api, engine):
    user = make_user()
    sender = make_sender(user, "spec@example.com")
    engine()
    job_id = _create(api(user), 5, prefix="spec")
    wait_job_done(job_id, 30)
    with db.get_engine().connect() as conn:
        daily_sent, last_sent_date, expires = conn.execute(text(
            "SELECT daily_sent, last_sent_date, token_expires_at FROM senders WHERE id = :s"), {"s": sender.id}).one()
        rows = conn.execute(text("SELECT created_at, updated_at, sent_at, status FROM email_recipients "
                                 "WHERE job_id = :j"), {"j": job_id}).all()
        job_created = conn.execute(text("SELECT created_at FROM email_jobs WHERE id = :j"), {"j": job_id}).scalar()
    assert daily_sent == 5 and last_sent_date == datetime.now(timezone.utc).date()
    assert expires is not None and expires > datetime.now(timezone.utc)
    for created_at, updated_at, sent_at, status in rows:
        assert status == "sent" and abs(created_at - job_created) < timedelta(seconds=5)
        assert updated_at >= sent_at > created_at

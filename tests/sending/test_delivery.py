"""A job is delivered exactly once per valid recipient, personalised, as a proper MIME email."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import Session

from mass_mailer.db import get_engine
from mass_mailer.errors import NotFound
from mass_mailer.services.jobs import sends_per_minute
from tests.sending.conftest import recipient_rows, wait_job_done


def _csv(rows: int) -> bytes:
    lines = ["Email,First Name,Company"]
    for i in range(rows):
        lines.append(f"user{i}@example.com,Name{i},Acme {i}" if i % 10 else f"user{i}@example.com,,Acme {i}")
    lines += ["not-an-address,Bad,X", "USER1@example.com,Dup,Y", ",Empty,Z"]
    return ("\n".join(lines) + "\n").encode()


def test_csv_job_is_delivered_once_per_valid_recipient_with_personalisation(
        make_user, make_sender, api, engine, emulator):
    user = make_user(name="Zoë Owner")
    senders = [make_sender(user, f"sender{i}@example.com") for i in range(3)]
    engine()
    client = api(user)
    answer = client.post("/api/email-jobs", data={
        "subject": "Hello {{ first_name | default('there') }} at {{ company }} — café",
        "html_content": "<h1>Hi {{ first_name | default('there') }}</h1><p>Welcome, <b>{{ company }}</b>.{{ nope }}</p>",
    }, files={"recipients": ("list.csv", _csv(297), "text/csv")})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["total_recipients"] == 297
    assert {(r["row"], r["reason"]) for r in created["rejected"]} >= {(300, "duplicate"), (301, "missing email address")}
    assert [r["row"] for r in created["rejected"]] == [299, 300, 301]

    job = wait_job_done(created["id"])
    assert (job.status, job.sent_count, job.failed_count) == ("completed", 297, 0)

    stats = emulator.stats()
    assert stats["duplicates"] == {} and stats["rate_violations"] == 0 and stats["daily_violations"] == 0
    delivered = emulator.messages()
    assert Counter(m["to"] for m in delivered) == Counter(f"user{i}@example.com" for i in range(297))
    by_to = {m["to"]: m for m in delivered}
    five, ten = by_to["user5@example.com"], by_to["user10@example.com"]
    assert five["subject"] == "Hello Name5 at Acme 5 — café"
    assert ten["subject"] == "Hello there at Acme 10 — café"
    assert "<h1>Hi Name5</h1>" in five["html"] and "Hi Name5" in five["text"] and "<h1>" not in five["text"]
    headers = five["headers"]
    assert headers["From"].endswith(f"<{five['account']}>") and "Zoë Owner" in headers["From"]
    assert five["account"] in {s.email for s in senders}
    assert headers["Date"] and headers["Message-ID"].endswith("@example.com>")
    assert headers["Content-Type"].startswith("multipart/alternative")
    assert {m["account"] for m in delivered} == {s.email for s in senders}  # every sender took part
    rows = recipient_rows(created["id"])
    assert all(r["status"] == "sent" for r in rows)

    status = client.get(f"/api/email-jobs/{created['id']}/status").json()
    assert (status["total"], status["sent"], status["failed"], status["pending"], status["percent"]) == (
        297, 297, 0, 0, 100.0)
    assert sum(s["sent"] for s in status["senders"]) == 297
    listed = client.get("/api/email-jobs").json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "completed"

    with Session(get_engine()) as session:
        minutes = sends_per_minute(session=session, user_id=user.id, job_id=created["id"])
        assert sum(sent for _, sent, _ in minutes) == 297 and sum(failed for *_, failed in minutes) == 0
        assert all(minute.second == 0 and minute.microsecond == 0 for minute, *_ in minutes)
        assert [m for m, *_ in minutes] == sorted(m for m, *_ in minutes)
        with pytest.raises(NotFound):
            sends_per_minute(session=session, user_id=make_user("other@example.com").id, job_id=created["id"])


def test_faults_lose_nothing_and_duplicate_nothing(make_user, make_sender, api, engine, emulator):
    user = make_user()
    for i in range(2):
        make_sender(user, f"flaky{i}@example.com")
    emulator.configure(fault_503_rate=0.15, fault_429_rate=0.10, seed=7)
    engine(MAX_ATTEMPTS="10")
    recipients = [{"email": f"r{i}@example.com", "n": i} for i in range(120)]
    answer = api(user).post("/api/email-jobs", json={"subject": "Faulty {{ n }}", "html_content": "<p>{{ n }}</p>",
                                                     "recipients": recipients})
    assert answer.status_code == 201, answer.text
    job = wait_job_done(answer.json()["id"], timeout=120)
    assert (job.status, job.sent_count) == ("completed", 120)
    stats = emulator.stats()
    assert stats["faults"] > 0 and stats["duplicates"] == {} and stats["rate_violations"] == 0
    assert sorted(m["to"] for m in emulator.messages()) == sorted(r["email"] for r in recipients)
    assert all(r["attempts"] >= 1 for r in recipient_rows(job.id))
    metrics = api(user).get("/metrics").text
    assert 'mass_mailer_sends_total{outcome="sent"} 120.0' in metrics
    assert 'mass_mailer_sends_total{outcome="retried"}' in metrics

"""What /status says about a job's pace: the rate over its sending time, an honest time left, the average and
the duration once finished, cancelled counts, and test sends listed apart from campaigns."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlmodel import Session

from mass_mailer.db import get_engine
from mass_mailer.services import jobs
from mass_mailer.settings import reset_settings
from tests.sending.conftest import job_row, wait_for, wait_job_done

RATE = 120  # per sender: two senders send 4 messages a second, 240 a minute
SENDERS = 2
RECIPIENTS = 48  # about 12 s of sending


@pytest.fixture
def idle(monkeypatch, make_user, make_sender, api):
    """A user with two senders, paced at RATE, and an API client; no engine running."""
    monkeypatch.setenv("SENDER_RATE_PER_MINUTE", str(RATE))
    reset_settings()
    user = make_user()
    for i in range(SENDERS):
        make_sender(user, f"pace{i}@example.com")
    return user, api(user)


@pytest.fixture
def paced(idle, engine, emulator):
    """The same with the engine running at RATE."""
    emulator.configure(latency_ms=20)
    engine(SENDER_RATE_PER_MINUTE=str(RATE))
    return idle


def _start(client, count: int, subject: str = "Pace") -> int:
    answer = client.post("/api/email-jobs", json={"subject": subject, "html_content": "<p>x</p>",
                                                  "recipients": [{"email": f"p{i}@example.com"}
                                                                 for i in range(count)]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_rate_and_time_left_follow_the_senders_pace_from_the_first_sends(paced):
    _, client = paced
    job_id = _start(client, RECIPIENTS)
    snapshots = []  # (monotonic time, status answer) while the job runs
    while True:
        status = client.get(f"/api/email-jobs/{job_id}/status").json()
        if status["status"] not in ("queued", "in_progress"):
            break
        snapshots.append((time.monotonic(), status))
        assert len(snapshots) < 400, "the job did not finish"
        time.sleep(0.25)
    finished_at = time.monotonic()
    capacity = RATE * SENDERS

    early = [(t, s) for t, s in snapshots if 2 <= s["sent"] + s["failed"] <= RECIPIENTS // 2]
    assert len(early) >= 3, snapshots
    for seen_at, status in early:
        left = finished_at - seen_at
        # The time left is about the real one (not minutes for a job that ends in seconds).
        assert status["eta_seconds"] is not None and status["eta_seconds"] <= 2.5 * left + 3, (status, left)
        assert status["eta_seconds"] >= left / 3 - 3, (status, left)
    measured = [s["rate_per_minute"] for _, s in snapshots if s["sent"] + s["failed"] >= 8]
    assert measured and all(capacity * 0.5 <= rate <= capacity * 1.25 for rate in measured), measured

    done = client.get(f"/api/email-jobs/{job_id}/status").json()
    assert done["status"] == "completed" and done["sent"] == RECIPIENTS
    assert done["pending"] == 0 and done["eta_seconds"] == 0 and done["cancelled"] == 0
    # A finished job keeps its pace: the average over its sending time, not the sends of the last minute.
    assert capacity * 0.6 <= done["average_rate_per_minute"] <= capacity * 1.25, done
    assert done["rate_per_minute"] == done["average_rate_per_minute"]
    started, ended = datetime.fromisoformat(done["started_at"]), datetime.fromisoformat(done["finished_at"])
    assert done["duration_seconds"] == round((ended - started).total_seconds())
    assert RECIPIENTS / (capacity / 60) * 0.8 <= done["duration_seconds"] <= 60, done


def test_a_job_still_waiting_for_its_first_send_estimates_from_the_senders_pace(idle):
    _, client = idle
    job_id = _start(client, 120)  # no engine: it stays queued
    status = client.get(f"/api/email-jobs/{job_id}/status").json()
    assert status["sent"] == 0 and status["rate_per_minute"] == 0
    assert status["average_rate_per_minute"] is None
    # 120 messages at 240 a minute: 30 s, whatever happens to be measured yet.
    assert 25 <= status["eta_seconds"] <= 35, status


def test_a_cancelled_job_reports_its_cancelled_recipients_average_rate_and_duration(paced):
    _, client = paced
    job_id = _start(client, 400)
    wait_for(lambda: job_row(job_id).sent_count >= 12, 30, message="some sends")
    assert client.delete(f"/api/email-jobs/{job_id}").status_code == 200
    job = wait_job_done(job_id)
    wait_for(lambda: client.get(f"/api/email-jobs/{job_id}/status").json()["pending"] == 0, 15,
             message="the send under way to settle")
    status = client.get(f"/api/email-jobs/{job_id}/status").json()
    # The job as the API shows it: its counters exact to the last settle (the row's own are folded later).
    shown = client.get(f"/api/email-jobs/{job_id}").json()
    assert status["status"] == "cancelled"
    assert shown["sent_count"] == status["sent"] >= 12
    assert status["cancelled"] == 400 - shown["sent_count"] - shown["failed_count"] \
        - shown["delivery_unknown_count"] > 0
    assert status["average_rate_per_minute"] and status["rate_per_minute"] > 0
    assert status["duration_seconds"] is not None and status["finished_at"]
    listed = client.get("/api/email-jobs").json()["items"]
    assert [(j["id"], j["cancelled_count"]) for j in listed] == [(job_id, status["cancelled"])]


def test_the_list_keeps_test_sends_apart_from_campaigns(paced):
    user, client = paced
    campaign = _start(client, 2, subject="Campaign")
    with Session(get_engine(), expire_on_commit=False) as session:
        test = jobs.create_job_from_list(session=session, user=user, subject="[Test] Campaign",
                                         html_content="<p>x</p>", recipients=[{"email": user.email}],
                                         is_test=True).id

    def ids(query: str = "") -> list[int]:
        answer = client.get("/api/email-jobs" + query)
        assert answer.status_code == 200, answer.text
        return [j["id"] for j in answer.json()["items"]]

    assert ids() == ids("?kind=all") == [test, campaign]
    assert ids("?kind=campaign") == [campaign]
    assert ids("?kind=test") == [test]
    assert client.get("/api/email-jobs?kind=tests").status_code == 422
    assert [j["is_test"] for j in client.get("/api/email-jobs").json()["items"]] == [True, False]

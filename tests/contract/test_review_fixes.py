"""Edge cases found in review: odd JSON recipient values, cross-site sign-out, work left behind by a stopped job."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mass_mailer import db
from mass_mailer.services import scheduler


@pytest.mark.parametrize("raw_value", ["NaN", "Infinity", '["\\u0000"]', '{"a": 1}'])
def test_json_recipient_values_that_cannot_be_stored_are_bad_input(signed_in, raw_value):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    body = ('{"subject": "s", "html_content": "<p>h</p>", '
            f'"recipients": [{{"email": "a@example.com", "x": {raw_value}}}]}}')
    answer = alice.post("/api/email-jobs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 422), answer.text
    assert "recipient values" in answer.json()["detail"]
    assert alice.get("/api/email-jobs").json()["total"] == 0


def test_another_site_cannot_sign_a_user_out(signed_in):
    alice = signed_in("alice@example.com")
    token = alice.token
    answer = alice.get("/api/auth/signout", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 302
    assert alice.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert alice.get("/api/auth/signout", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 302
    assert alice.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_pending_rows_of_a_stopped_job_are_settled_by_the_scheduler(signed_in):
    """A retry settled while its job was being cancelled must not leave the row pending forever."""
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    job = alice.post("/api/email-jobs", json={"subject": "s", "html_content": "<p>h</p>",
                                              "recipients": [{"email": "a@example.com"}, {"email": "b@example.com"}]})
    job_id = job.json()["id"]
    with db.get_engine().begin() as conn:  # the state a racing retry settle can leave behind
        conn.execute(text("UPDATE email_jobs SET status = 'cancelled', finished_at = now() WHERE id = :j"), {"j": job_id})
        conn.execute(text("UPDATE email_recipients SET status = 'pending' WHERE job_id = :j"), {"j": job_id})
    scheduler.tick(enqueue=lambda *args, **kwargs: None)
    items = alice.get(f"/api/email-jobs/{job_id}/recipients").json()["items"]
    assert {item["status"] for item in items} == {"cancelled"}
    assert alice.get(f"/api/email-jobs/{job_id}/status").json()["pending"] == 0

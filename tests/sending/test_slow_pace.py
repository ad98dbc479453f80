"""A pace slower than a batch may wait for (under 4 sends a minute) hands over without spinning."""

from __future__ import annotations

import time

from sqlalchemy import text

from mass_mailer import db
from mass_mailer.services.quota import SenderPace
from mass_mailer.services.sending import run_batch
from mass_mailer.settings import reset_settings


def test_a_batch_waiting_for_a_far_pace_slot_holds_its_turn_instead_of_returning_at_once(
        monkeypatch, make_user, make_sender):
    monkeypatch.setenv("SENDER_RATE_PER_MINUTE", "2")
    reset_settings()
    user = make_user()
    sender = make_sender(user, "slow@example.com")
    with db.get_engine().begin() as conn:
        job_id = conn.execute(text("INSERT INTO email_jobs (user_id, subject, html_content, status, "
                                   "total_recipients) VALUES (:u, 's', 'h', 'in_progress', 1) RETURNING id"),
                              {"u": user.id}).scalar()
        conn.execute(text("INSERT INTO email_recipients (job_id, email) VALUES (:j, 'r@example.com')"),
                     {"j": job_id})
    assert SenderPace(2).try_acquire(sender.id) == 0  # the slot of this half minute is taken
    started = time.monotonic()
    assert run_batch(job_id=job_id, sender_id=sender.id, limit=5) is True  # work is left for the follow-up
    assert time.monotonic() - started > 10  # it waited its share rather than re-queuing itself at once

"""A send whose delivery is unknown may have reached Gmail: it counts against the sender's daily quota."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from mass_mailer import db
from mass_mailer.services.quota import usage_last_24h
from mass_mailer.services.lifecycle import DELIVERY_UNKNOWN
from mass_mailer.services.sending import run_batch


def test_a_delivery_unknown_failure_uses_quota_so_nothing_more_is_sent(make_user, make_sender, emulator):
    user = make_user()
    sender = make_sender(user, "capped@example.com", daily_quota=1)
    with db.get_engine().begin() as conn:
        job_id = conn.execute(text("INSERT INTO email_jobs (user_id, subject, html_content, status, "
                                   "total_recipients) VALUES (:u, 's', 'h', 'in_progress', 2) RETURNING id"),
                              {"u": user.id}).scalar()
        conn.execute(text("INSERT INTO email_recipients (job_id, email, status, sender_id, error_message, "
                          "settled_at) VALUES (:j, 'crashed@example.com', 'delivery_unknown', :s, :reason, now())"),
                     {"j": job_id, "s": sender.id, "reason": DELIVERY_UNKNOWN})
        conn.execute(text("INSERT INTO email_recipients (job_id, email) VALUES (:j, 'next@example.com')"),
                     {"j": job_id})
    with Session(db.get_engine()) as session:
        assert usage_last_24h(session=session, sender_ids=[sender.id]) == {sender.id: 1}
    run_batch(job_id=job_id, sender_id=sender.id, limit=5)
    assert emulator.messages() == []
    with db.get_engine().connect() as conn:
        status = conn.execute(text("SELECT status FROM email_recipients WHERE email = 'next@example.com'")).scalar()
    assert status == "pending"

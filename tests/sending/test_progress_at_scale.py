"""The job page and /status read a job's progress from its counters, never by counting its recipients: the totals
they show match the rows, live to the last settle (per-sender counts not folded yet included), and what a live
page polls changes with every settle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from mass_mailer.db import get_engine
from mass_mailer.errors import NotFound
from mass_mailer.models import utcnow
from mass_mailer.services import jobs
from mass_mailer.state import job as job_page

STATUSES = ["sent"] * 6 + ["failed"] * 2 + ["delivery_unknown", "suppressed", "pending", "pending"]


def _job_with_rows(user, senders, *, status: str = "in_progress", unfolded: int = 2) -> int:
    """A job of 120 recipients with mixed outcomes, settled a minute apart, and the counters the engine and the
    scheduler leave: per (job, sender) counts, of which the last `unfolded` sends of each sender are not in the
    job's own counters yet."""
    with get_engine().begin() as conn:
        job_id = conn.execute(text("""
            INSERT INTO email_jobs (user_id, subject, html_content, status, total_recipients, created_at, updated_at,
                                    started_at)
            VALUES (:u, 'S', '<p>x</p>', :status, 120, now(), now(), now()) RETURNING id"""),
            {"u": user.id, "status": status}).scalar_one()
        now = utcnow()
        rows = []
        for i in range(120):
            state = STATUSES[i % len(STATUSES)]
            settled = state != "pending"
            rows.append({"j": job_id, "e": f"r{i}@example.org", "st": state,
                         "s": senders[i % len(senders)].id if state in ("sent", "failed", "delivery_unknown") else None,
                         "at": now - timedelta(minutes=120 - i) if settled else None})
        conn.execute(text("INSERT INTO email_recipients (job_id, email, status, sender_id, settled_at, sent_at) "
                          "VALUES (:j, :e, :st, :s, :at, CASE WHEN :st = 'sent' THEN CAST(:at AS timestamptz) END)"),
                     rows)
        conn.execute(text("""
            INSERT INTO job_sender_counts (job_id, sender_id, sent, failed, delivery_unknown,
                                           folded_sent, folded_failed, folded_unknown)
            SELECT job_id, sender_id, s, f, u, greatest(0, s - :unfolded), f, u FROM (
                SELECT job_id, sender_id, count(*) FILTER (WHERE status = 'sent') AS s,
                       count(*) FILTER (WHERE status = 'failed') AS f,
                       count(*) FILTER (WHERE status = 'delivery_unknown') AS u
                FROM email_recipients WHERE job_id = :j AND sender_id IS NOT NULL GROUP BY 1, 2) c"""),
            {"j": job_id, "unfolded": unfolded})
        conn.execute(text("""
            UPDATE email_jobs j SET sent_count = c.fs, failed_count = c.ff, delivery_unknown_count = c.fu,
                                    suppressed_count = 10
            FROM (SELECT sum(folded_sent) fs, sum(folded_failed) ff, sum(folded_unknown) fu
                  FROM job_sender_counts WHERE job_id = :j) c WHERE j.id = :j"""), {"j": job_id})
    return job_id


def _rows(job_id: int, statuses: list[str]) -> int:
    with get_engine().connect() as conn:
        return conn.execute(text("SELECT count(*) FROM email_recipients WHERE job_id = :j AND status = ANY(:s)"),
                            {"j": job_id, "s": statuses}).scalar_one()


def test_status_and_recipient_totals_come_from_the_counters_and_match_the_rows(make_user, make_sender):
    user = make_user()
    senders = [make_sender(user, "a@example.com"), make_sender(user, "b@example.com")]
    job_id = _job_with_rows(user, senders)
    with Session(get_engine()) as session:
        status = jobs.job_status(session=session, user_id=user.id, job_id=job_id)
        assert (status.sent, status.failed, status.delivery_unknown, status.suppressed) == (
            _rows(job_id, ["sent"]), _rows(job_id, ["failed"]), _rows(job_id, ["delivery_unknown"]), 10)
        assert status.pending == _rows(job_id, ["pending", "sending"]) == 20
        by_sender = {s.email: (s.sent, s.failed, s.delivery_unknown) for s in status.senders}
        assert by_sender == {"a@example.com": (30, 10, 10), "b@example.com": (30, 10, 0)}
        for name, statuses in (("sent", ["sent"]), ("failed", ["failed"]), ("delivery_unknown", ["delivery_unknown"]),
                               ("suppressed", ["suppressed"]), ("pending", ["pending", "sending"]),
                               ("cancelled", ["cancelled"])):
            page = jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, status=name, limit=5)
            assert page.total == _rows(job_id, statuses), name
            assert all(item.status == name for item in page.items), name
        assert jobs.list_recipients(session=session, user_id=user.id, job_id=job_id).total == 120
        # A search counts its matches, up to the limit asked for.
        found = jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, q="r1", count_limit=10)
        assert (found.total, found.total_capped) == (10, True)
        found = jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, q="r11")
        assert (found.total, found.total_capped) == (11, False)  # r11, r110..r119


def test_pages_of_recipients_come_in_upload_order_whatever_their_statuses(make_user, make_sender):
    user = make_user()
    job_id = _job_with_rows(user, [make_sender(user, "a@example.com")])
    with get_engine().begin() as conn:  # a send under way is listed as pending, in its place
        conn.execute(text("UPDATE email_recipients SET status = 'sending' WHERE job_id = :j AND email = 'r11@example.org'"),
                     {"j": job_id})
        uploaded = conn.execute(text("SELECT email, status FROM email_recipients WHERE job_id = :j ORDER BY id"),
                                {"j": job_id}).all()
    shown = [(email, "pending" if status == "sending" else status) for email, status in uploaded]
    with Session(get_engine()) as session:
        def listed(status=None, size=7):
            items, offset = [], 0
            while page := jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, status=status,
                                               limit=size, offset=offset).items:
                items += [(item.email, item.status) for item in page]
                offset += size
            return items

        assert listed() == shown and len(shown) == 120
        for status in ("sent", "failed", "pending", "suppressed"):
            assert listed(status, 4) == [row for row in shown if row[1] == status], status
        assert ("r11@example.org", "pending") in listed("pending")
        far = jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, offset=2**63 - 1)
        assert far.items == [] and far.total == 120


def test_a_cancelled_job_counts_its_cancelled_recipients(make_user, make_sender):
    user = make_user()
    job_id = _job_with_rows(user, [make_sender(user, "a@example.com")], status="cancelled")
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE email_recipients SET status = 'cancelled' WHERE job_id = :j AND status = 'pending'"),
                     {"j": job_id})
    with Session(get_engine()) as session:
        page = jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, status="cancelled")
        assert page.total == _rows(job_id, ["cancelled"]) == 20
        assert jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, status="pending").total == 0
        assert jobs.job_status(session=session, user_id=user.id, job_id=job_id).cancelled == 20


def test_the_signature_moves_with_every_settle_and_is_only_the_owners(make_user, make_sender):
    user = make_user()
    sender = make_sender(user, "a@example.com")
    job_id = _job_with_rows(user, [sender])
    with Session(get_engine()) as session:
        before = jobs.progress_signature(session=session, user_id=user.id, job_id=job_id)
        assert jobs.progress_signature(session=session, user_id=make_user("other@example.com").id,
                                       job_id=job_id) is None
    with get_engine().begin() as conn:  # a settle, counted per (job, sender) only: the job row is untouched
        conn.execute(text("UPDATE job_sender_counts SET sent = sent + 1 WHERE job_id = :j"), {"j": job_id})
    with Session(get_engine()) as session:
        assert jobs.progress_signature(session=session, user_id=user.id, job_id=job_id) != before
        assert jobs.job_status(session=session, user_id=user.id, job_id=job_id).sent == _rows(job_id, ["sent"]) + 1


def test_the_chart_reads_only_its_last_minutes(make_user, make_sender):
    user = make_user()
    job_id = _job_with_rows(user, [make_sender(user, "a@example.com")])
    with Session(get_engine()) as session:
        every = jobs.sends_per_minute(session=session, user_id=user.id, job_id=job_id)
        recent = jobs.sends_per_minute(session=session, user_id=user.id, job_id=job_id, minutes=30)
        since = every[-1][0] - timedelta(minutes=29)
        assert recent == [minute for minute in every if minute[0] >= since] and len(recent) < len(every)
        with pytest.raises(NotFound):
            jobs.sends_per_minute(session=session, user_id=make_user("other@example.com").id, job_id=job_id,
                                  minutes=30)


def test_the_page_data_is_loaded_for_the_owner_only(make_user, make_sender):
    user = make_user()
    job_id = _job_with_rows(user, [make_sender(user, "a@example.com")])
    job_page._shared.clear()
    data = job_page.load_page_data(user_id=user.id, job_id=job_id, status_filter="failed", search="", page=0,
                                   chart=True)
    assert data.recipients.total == _rows(job_id, ["failed"]) and data.minutes
    assert job_page.load_page_data(user_id=make_user("other@example.com").id, job_id=job_id, status_filter="all",
                                   search="", page=0) is None

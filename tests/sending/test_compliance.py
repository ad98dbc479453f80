"""Sending like a responsible bulk sender: one-click unsubscribe, the suppression list, account warm-up."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import text

from mass_mailer import db
from mass_mailer.api import create_app
from mass_mailer.services import unsubscribe
from mass_mailer.services.quota import WARMUP_RAMP, effective_quota
from tests.sending.conftest import job_row, recipient_rows, wait_for, wait_job_done

ONE_CLICK = {"content": "List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
HTML = '<p>Hello</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _job(client, emails: list[str], html: str = HTML) -> dict:
    answer = client.post("/api/email-jobs", json={"subject": "News", "html_content": html,
                                                  "recipients": [{"email": e} for e in emails]})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_every_message_has_one_click_unsubscribe_that_works_without_a_cookie(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "news@example.com")
    engine()
    client = api(user)
    job = _job(client, ["ann@example.com", "bob@example.com", "cy@example.com"])
    wait_job_done(job["id"], 30)
    messages = {m["to"]: m for m in emulator.messages()}
    assert set(messages) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    urls = {}
    for to, message in messages.items():
        headers = message["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = re.fullmatch(r"<(http://127\.0\.0\.1:8000/u/[^>]+)>", headers["List-Unsubscribe"]).group(1)
        assert url in message["html"]  # {{ unsubscribe_url }} is the same link
        urls[to] = urlsplit(url).path
    assert len(set(urls.values())) == 3

    anonymous = TestClient(create_app())  # a mail provider: no cookie, no sign-in
    page = anonymous.get(urls["ann@example.com"])
    assert page.status_code == 200 and "ann@example.com" in page.text and "<button" in page.text
    assert client.get("/api/suppressions").json()["total"] == 0  # a GET alone (a link scanner) changes nothing

    answer = anonymous.post(urls["ann@example.com"], **ONE_CLICK)
    assert answer.status_code == 200
    confirmed = anonymous.post(urls["bob@example.com"], data={"confirm": "1"})  # the page's button
    assert confirmed.status_code == 200 and "unsubscribed" in confirmed.text
    listed = client.get("/api/suppressions").json()
    assert {(i["email"], i["reason"], i["job_id"]) for i in listed["items"]} == {
        ("ann@example.com", "unsubscribed", job["id"]), ("bob@example.com", "unsubscribed", job["id"])}
    assert anonymous.post(urls["ann@example.com"], **ONE_CLICK).status_code == 200  # twice is fine

    for tampered in (urls["cy@example.com"][:-2] + ("xx" if not urls["cy@example.com"].endswith("xx") else "yy"),
                     urls["cy@example.com"].replace("/u/", "/u/A"), "/u/not-a-token"):
        assert anonymous.post(tampered, **ONE_CLICK).status_code == 400
        assert anonymous.get(tampered).status_code == 400
    assert client.get("/api/suppressions").json()["total"] == 2

    later = _job(client, ["ANN@example.com", "cy@example.com", "dee@example.com"])
    assert later["total_recipients"] == 2
    [rejected] = later["rejected"]
    assert rejected["row"] == 1 and rejected["email"] == "ANN@example.com"
    assert rejected["reason"] == f"suppressed: unsubscribed on {date.today():%Y-%m-%d}"
    wait_job_done(later["id"], 30)
    assert [m["to"] for m in emulator.messages()].count("ann@example.com") == 1


def test_an_address_suppressed_while_a_job_runs_is_never_sent(make_user, make_sender, api, engine, emulator):
    user = make_user()
    make_sender(user, "slow@example.com")
    engine(SENDER_RATE_PER_MINUTE="120")
    client = api(user)
    emails = [f"m{i}@example.com" for i in range(30)] + ["Case.Person@example.com"]
    job = _job(client, emails)
    wait_for(lambda: job_row(job["id"]).sent_count >= 3, 30, message="sending started")
    assert client.post("/api/suppressions", json={"email": "m29@example.com"}).status_code == 201
    one_click = urlsplit(unsubscribe.link(user_id=user.id, job_id=job["id"], email="m28@example.com")).path
    assert TestClient(create_app()).post(one_click, **ONE_CLICK).status_code == 200
    # Stored with capitals: the claim finds it on the list before sending it.
    assert client.post("/api/suppressions", json={"email": "case.person@example.com"}).status_code == 201
    done = wait_job_done(job["id"], 60)
    delivered = {m["to"] for m in emulator.messages()}
    rows = {r["email"]: r["status"] for r in recipient_rows(job["id"])}
    skipped = {"m28@example.com", "m29@example.com", "Case.Person@example.com"}
    assert {e for e, s in rows.items() if s == "suppressed"} == skipped
    assert not delivered & {e.lower() for e in skipped}
    assert done.status == "completed" and (done.sent_count, done.suppressed_count) == (28, 3)
    status = client.get(f"/api/email-jobs/{job['id']}/status").json()
    assert (status["sent"], status["suppressed"], status["pending"]) == (28, 3, 0)
    listed = client.get(f"/api/email-jobs/{job['id']}/recipients", params={"status": "suppressed"}).json()
    assert listed["total"] == 3


def test_the_suppression_list_imports_exports_and_removes(make_user, api):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    client = api(alice)
    upload = b"Email,Name\nA@Example.com,A\nnot-an-address,B\nb@example.com,B\nb@example.com,again\n"
    answer = client.post("/api/suppressions/import", files={"file": ("list.csv", upload, "text/csv")})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["added"], result["already"], result["rejected_count"]) == (2, 0, 1)
    assert client.post("/api/suppressions", json={"email": "c@example.com"}).json()["reason"] == "manual"
    assert client.post("/api/suppressions", json={"email": "nope"}).status_code == 400
    exported = client.get("/api/suppressions", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["email"], r["reason"]) for r in rows} == {
        ("a@example.com", "imported"), ("b@example.com", "imported"), ("c@example.com", "manual")}
    assert api(bob).get("/api/suppressions").json()["total"] == 0  # each user has a list of their own
    assert api(bob).delete("/api/suppressions/a@example.com").status_code == 404

    for row in rows:
        assert client.delete(f"/api/suppressions/{row['email']}").status_code == 204
    assert client.delete("/api/suppressions/a@example.com").status_code == 404
    again = client.post("/api/suppressions/import", content=exported.content, headers={"Content-Type": "text/csv"})
    assert again.json()["added"] == 3
    assert {i["email"] for i in client.get("/api/suppressions").json()["items"]} == {r["email"] for r in rows}
    assert client.get("/api/suppressions", params={"q": "b@"}).json()["total"] == 1
    bad = client.post("/api/suppressions/import", files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")})
    assert bad.status_code in (400, 422)


def test_a_new_warmup_sender_is_capped_by_its_first_step_and_an_established_one_is_not(
        make_user, make_sender, api, engine, emulator):
    user = make_user()
    new = make_sender(user, "new@example.com")
    client = api(user)
    changed = client.patch(f"/api/senders/{new.id}", json={"warmup": True})
    assert changed.status_code == 200
    view = changed.json()
    assert (view["warmup"], view["effective_quota"], view["warmup_step"]) == (True, WARMUP_RAMP[0], 1)
    assert view["next_warmup_step_on"] is not None
    engine()
    job = _job(client, [f"w{i}@example.com" for i in range(WARMUP_RAMP[0] + 10)])
    wait_for(lambda: job_row(job["id"]).sent_count >= WARMUP_RAMP[0], 60, message="the first step's sends")
    time.sleep(3)
    assert job_row(job["id"]).sent_count == WARMUP_RAMP[0]
    status = client.get(f"/api/email-jobs/{job['id']}/status").json()
    assert status["waiting_reason"] and status["pending"] == 10
    assert client.get(f"/api/senders/{new.id}").json()["remaining_today"] == 0

    other = make_user("established@example.com")
    old = make_sender(other, "old@example.com")
    assert api(other).get(f"/api/senders/{old.id}").json()["warmup"] is False
    established = _job(api(other), [f"e{i}@example.com" for i in range(WARMUP_RAMP[0] + 10)])
    assert wait_job_done(established["id"], 60).sent_count == WARMUP_RAMP[0] + 10
    client.delete(f"/api/email-jobs/{job['id']}")


def test_the_warmup_ramp_moves_one_step_per_day_the_sender_sent(make_user, make_sender, api, engine):
    """The stored step plus a day that the sender sent: the next day's quota is the next step."""
    user = make_user()
    sender = make_sender(user, "ramp@example.com")
    today, yesterday = date(2026, 12, 4), date(2026, 12, 3)
    assert effective_quota(daily_quota=2000, warmup=True, step=0, last_sent_date=None, today=today) == 50
    assert effective_quota(daily_quota=2000, warmup=True, step=0, last_sent_date=today, today=today) == 50
    assert effective_quota(daily_quota=2000, warmup=True, step=0, last_sent_date=yesterday, today=today) == 100
    assert effective_quota(daily_quota=2000, warmup=True, step=4, last_sent_date=yesterday, today=today) == 2000
    assert effective_quota(daily_quota=150, warmup=True, step=2, last_sent_date=today, today=today) == 150
    assert effective_quota(daily_quota=2000, warmup=False, step=0, last_sent_date=None, today=today) == 2000
    with db.get_engine().begin() as conn:  # it sent yesterday on the first step
        conn.execute(text("UPDATE senders SET warmup = true, warmup_step = 0, daily_sent = 50, "
                          "last_sent_date = (now() AT TIME ZONE 'UTC')::date - 1 WHERE id = :s"), {"s": sender.id})
    client = api(user)
    assert client.get(f"/api/senders/{sender.id}").json()["effective_quota"] == 100
    engine()
    wait_job_done(_job(client, ["one@example.com"])["id"], 30)
    with db.get_engine().connect() as conn:
        step, sent = conn.execute(text("SELECT warmup_step, daily_sent FROM senders WHERE id = :s"),
                                  {"s": sender.id}).one()
    assert (step, sent) == (1, 1)  # the first send of the day stored the new step and restarted the day's count
    assert client.get(f"/api/senders/{sender.id}").json()["warmup_step"] == 2


def test_a_warmup_step_change_is_logged_once(make_user, make_sender, caplog):
    from mass_mailer.services.scheduler import WarmupLog
    from sqlmodel import Session

    user = make_user()
    sender = make_sender(user, "steps@example.com")
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE senders SET warmup = true, warmup_step = 0, last_sent_date = "
                          "(now() AT TIME ZONE 'UTC')::date WHERE id = :s"), {"s": sender.id})
    steps = WarmupLog()
    with Session(db.get_engine()) as session, caplog.at_level("INFO", logger="mass_mailer.services.scheduler"):
        steps.note(session)  # first look: nothing to report
        with db.get_engine().begin() as conn:  # its first send of a new day moved it up
            conn.execute(text("UPDATE senders SET warmup_step = 1 WHERE id = :s"), {"s": sender.id})
        steps.note(session)
        steps.note(session)
    lines = [r.getMessage() for r in caplog.records if "warm-up step" in r.getMessage()]
    assert lines == [f"sender {sender.id} is on warm-up step 2 of 5: 100 a day"]

"""Controlling a campaign in the browser: pause and resume, schedule for later (in the browser's time zone),
reschedule, start now, and retry what failed, asking first about recipients whose delivery is unknown."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from mass_mailer.db import get_engine
from mass_mailer.state.formatting import when

from .fast_typing import FAST_MS, connect_sender_fast, sign_in_fast

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
ZONE = "Asia/Kolkata"  # UTC+05:30 all year: the browser's time and UTC differ, by a fraction of an hour too
LOCAL_FIELD = "%Y-%m-%dT%H:%M"  # a datetime-local field's value


def _new_page(browser) -> Page:
    return browser.new_context(viewport=LAPTOP, timezone_id=ZONE).new_page()


def _addresses(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}@example.org" for i in range(1, count + 1)]


def _compose(page: Page, addresses: list[str], name: str) -> None:
    """The New email page with these recipients and a campaign name, typed fast; the default message."""
    page.get_by_test_id("nav-new-email").click()
    csv = ("email,first_name\n" + "".join(f"{a},{a.split('@')[0]}\n" for a in addresses)).encode()
    page.locator("input[type=file]").set_input_files({"name": "r.csv", "mimeType": "text/csv", "buffer": csv})
    expect(page.get_by_test_id("valid-count")).to_contain_text(str(len(addresses)))
    page.get_by_test_id("campaign-name").press_sequentially(name, delay=FAST_MS)


def _number(page: Page, test_id: str) -> int:
    return int(re.findall(r"\d+", page.get_by_test_id(test_id).inner_text())[0])


def _delivered_to(emulator, account: str) -> list[str]:
    return sorted(m["to"] for m in emulator.messages(account=account))


def _api(page: Page, app_url: str) -> httpx.Client:
    """The signed-in user's session, for what the test checks or prepares through the API."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "mm_token")
    return httpx.Client(base_url=app_url, cookies={"mm_token": cookie}, headers={"Origin": app_url}, timeout=15)


def test_a_running_job_pauses_and_resumes_and_every_recipient_gets_it_once(app_url, browser, emulator, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "pauser@example.com")
    connect_sender_fast(page, "pause.news@example.com")
    addresses = _addresses("paused", 40)  # 20 s through one sender at 120 a minute
    _compose(page, addresses, "Pausable")
    page.get_by_test_id("start-sending").click()  # at once, no pause after the last key
    page.wait_for_url("**/jobs/*", timeout=20_000)

    expect(page.get_by_test_id("pause-job")).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("resume-job")).to_have_count(0)
    for _ in range(200):
        if _number(page, "sent-count") >= 3:
            break
        page.wait_for_timeout(100)
    page.get_by_test_id("pause-job").click()
    expect(page.get_by_test_id("job-status")).to_have_text("paused")
    expect(page.get_by_test_id("paused-note")).to_be_visible()
    expect(page.get_by_test_id("live")).to_have_count(0)
    expect(page.get_by_test_id("pause-job")).to_have_count(0)
    expect(page.get_by_test_id("resume-job")).to_be_visible()
    page.wait_for_timeout(2000)  # a send under way when the job was paused settles
    held = len(_delivered_to(emulator, "pause.news@example.com"))
    assert 3 <= held < len(addresses)
    page.wait_for_timeout(3000)
    assert len(_delivered_to(emulator, "pause.news@example.com")) == held, "sending went on while paused"
    expect(page.get_by_test_id("sent-count")).to_contain_text(str(held), timeout=10_000)  # the page follows
    shoot(page, "12-job-paused")

    page.get_by_test_id("nav-dashboard").click()  # resumed from its row on the dashboard
    row = page.get_by_test_id("job-row").filter(has_text="Pausable")
    expect(row).to_contain_text("paused")
    expect(row.get_by_test_id("pause-row")).to_have_count(0)
    row.get_by_test_id("resume-row").click()
    expect(row).to_contain_text("in progress")
    expect(row.get_by_test_id("pause-row")).to_be_visible()
    expect(page.get_by_text("Resumed: Pausable")).to_have_count(0, timeout=15_000)  # the toast has gone
    page.set_viewport_size(PHONE)  # the job's card keeps its pause control, inside the card
    card = page.locator(".jobs-table").bounding_box()
    control = row.get_by_test_id("pause-row").bounding_box()
    assert card["x"] <= control["x"] and control["x"] + control["width"] <= card["x"] + card["width"], (control, card)
    shoot(page, "13-phone-dashboard-pause")
    page.set_viewport_size(LAPTOP)
    expect(row).to_contain_text("completed", timeout=60_000)
    assert _delivered_to(emulator, "pause.news@example.com") == sorted(addresses)  # every one, exactly once
    expect(row.get_by_test_id("job-counts")).to_contain_text("40 / 0 / 0 / 40")
    page.context.close()


def test_a_job_scheduled_for_later_waits_can_be_moved_or_started_now_and_starts_by_itself(
        app_url, browser, emulator, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "planner@example.com")
    connect_sender_fast(page, "plan.news@example.com")
    addresses = _addresses("planned", 3)
    _compose(page, addresses, "Planned")

    page.get_by_test_id("schedule-later").click()
    expect(page.get_by_test_id("zone-note")).to_contain_text("Times are in your time zone, UTC+05:30")
    expect(page.get_by_test_id("start-sending")).to_have_text("Schedule")
    expect(page.get_by_test_id("start-blocker")).to_contain_text("Choose a valid time")
    field = page.get_by_test_id("send-at-input")
    now = datetime.now(ZoneInfo(ZONE))
    field.fill((now - timedelta(hours=2)).strftime(LOCAL_FIELD))
    expect(page.get_by_test_id("schedule-error")).to_contain_text("in the past")
    field.fill((now + timedelta(days=400)).strftime(LOCAL_FIELD))
    expect(page.get_by_test_id("schedule-error")).to_contain_text("more than a year ahead")
    starts = (now + timedelta(seconds=95)).replace(second=0, microsecond=0)  # a whole minute, 35 to 95 s away
    field.fill(starts.strftime(LOCAL_FIELD))
    expect(page.get_by_test_id("send-at-text")).to_have_text(f"Starts {when(starts)}")  # the same instant, in UTC
    expect(page.get_by_test_id("schedule-error")).to_have_count(0)
    expect(page.get_by_test_id("start-blocker")).to_have_count(0)
    page.get_by_test_id("start-sending").scroll_into_view_if_needed()
    shoot(page, "14-new-email-schedule")
    page.get_by_test_id("start-sending").click()
    page.wait_for_url("**/jobs/*", timeout=20_000)
    planned_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])

    expect(page.get_by_test_id("job-status")).to_have_text("scheduled")
    expect(page.get_by_test_id("send-at")).to_have_text(when(starts))
    expect(page.get_by_test_id("scheduled-note")).to_contain_text(starts.strftime("%Y-%m-%d %H:%M:%S") + " your time")
    expect(page.get_by_test_id("start-now")).to_be_visible()
    expect(page.get_by_test_id("cancel-job")).to_be_visible()
    expect(page.get_by_test_id("pause-job")).to_have_count(0)
    shoot(page, "15-job-scheduled")
    page.get_by_test_id("nav-dashboard").click()
    row = page.get_by_test_id("job-row").filter(has_text="Planned")
    expect(row).to_contain_text("scheduled")
    expect(row.get_by_test_id("job-send-at")).to_have_text(f"starts {when(starts)}")
    shoot(page, "18-dashboard-scheduled")

    # Meanwhile, another one for the day after tomorrow: moved, then started at once.
    api = _api(page, app_url)
    later = api.post("/api/email-jobs", json={
        "name": "Moved", "subject": "Moved", "html_content": "<p>Hi {{ email }}</p>",
        "recipients": [{"email": "moved@example.org"}], "send_at": (now + timedelta(days=2)).isoformat()})
    assert later.status_code == 201, later.text
    page.goto(f"{app_url}/jobs/{later.json()['id']}")
    expect(page.get_by_test_id("job-status")).to_have_text("scheduled", timeout=20_000)
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("start-now")).to_be_in_viewport()
    shoot(page, "16-phone-job-scheduled", full_page=True)
    page.set_viewport_size(LAPTOP)
    moved_to = (now + timedelta(days=3)).replace(hour=9, minute=30, second=0, microsecond=0)
    page.get_by_test_id("reschedule-at").fill((now - timedelta(days=1)).strftime(LOCAL_FIELD))
    page.get_by_test_id("reschedule").click()
    expect(page.get_by_test_id("reschedule-error")).to_contain_text("in the past")
    page.get_by_test_id("reschedule-at").fill(moved_to.strftime(LOCAL_FIELD))
    page.get_by_test_id("reschedule").click()
    expect(page.get_by_test_id("send-at")).to_have_text(when(moved_to))  # 09:30 in Kolkata is 04:00 UTC
    assert when(moved_to).endswith("04:00:00 UTC")
    expect(page.get_by_test_id("reschedule-error")).to_have_count(0)
    page.get_by_test_id("start-now").click()
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=30_000)
    assert _delivered_to(emulator, "plan.news@example.com") == ["moved@example.org"]

    page.get_by_test_id("nav-dashboard").click()
    row = page.get_by_test_id("job-row").filter(has_text="Planned")
    if datetime.now(ZoneInfo(ZONE)) < starts:  # still waiting for its time
        expect(row).to_contain_text("scheduled")
    expect(row).to_contain_text("completed", timeout=150_000)  # no reload: it starts by itself, the page follows
    started = datetime.fromisoformat(api.get(f"/api/email-jobs/{planned_id}").json()["started_at"])
    assert started >= starts, (started, starts)
    assert _delivered_to(emulator, "plan.news@example.com") == sorted([*addresses, "moved@example.org"])
    api.close()
    page.context.close()


def test_retry_failed_sends_again_what_failed_and_asks_before_resending_unknown_deliveries(
        app_url, browser, emulator, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "retrier@example.com")
    connect_sender_fast(page, "retry.news@example.com")
    addresses = _addresses("flaky", 4)
    emulator.configure(fault_503_rate=1.0)  # Gmail answers 503 until the test says otherwise
    _compose(page, addresses, "Flaky")
    page.get_by_test_id("start-sending").click()
    page.wait_for_url("**/jobs/*", timeout=20_000)
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])

    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("failed-count")).to_contain_text("4")
    expect(page.get_by_test_id("retry-failed")).to_be_visible()
    emulator.configure(fault_503_rate=0.0)
    page.get_by_test_id("retry-failed").click()  # no recipient of unknown delivery: no question asked
    expect(page.get_by_text("4 recipients re-queued")).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("sent-count")).to_contain_text("4")
    expect(page.get_by_test_id("failed-count")).to_contain_text("0")
    expect(page.get_by_test_id("retry-failed")).to_have_count(0)
    assert _delivered_to(emulator, "retry.news@example.com") == sorted(addresses)

    # One send whose outcome never came back (as a worker that died mid-send leaves it).
    unknown = addresses[0]
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE email_recipients SET status = 'delivery_unknown', error_message = 'delivery "
                          "unknown: the worker stopped during the send' WHERE job_id = :job AND email = :email"),
                     {"job": job_id, "email": unknown})
        conn.execute(text("UPDATE email_jobs SET sent_count = sent_count - 1, delivery_unknown_count = 1 "
                          "WHERE id = :job"), {"job": job_id})
        # The sender's own counts, as recovery leaves them (already in the job's counters above: folded).
        conn.execute(text("UPDATE job_sender_counts SET sent = sent - 1, folded_sent = folded_sent - 1, "
                          "delivery_unknown = delivery_unknown + 1, folded_unknown = folded_unknown + 1 "
                          "WHERE job_id = :job"), {"job": job_id})
    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("job-row").filter(has_text="Flaky").get_by_test_id("job-unknown")).to_have_text(
        " · 1 delivery unknown")
    page.goto(f"{app_url}/jobs/{job_id}")
    expect(page.get_by_test_id("unknown-count")).to_contain_text("1", timeout=20_000)
    expect(page.get_by_test_id("sender-line")).to_contain_text("retry.news@example.com")
    assert page.get_by_test_id("sender-line").locator("td").all_inner_texts()[1:] == ["3", "0", "1"]
    page.get_by_test_id("status-filter").get_by_role("radio", name="Delivery unknown").click()
    expect(page.get_by_test_id("recipient-row")).to_have_count(1)
    expect(page.get_by_test_id("recipient-row")).to_contain_text(unknown)
    expect(page.get_by_test_id("recipient-row")).to_contain_text("delivery unknown")

    page.get_by_test_id("retry-failed").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("1 recipient has an unknown delivery")
    expect(dialog).to_contain_text("Gmail may already have delivered them")
    expect(dialog).to_contain_text("might receive the email twice")
    shoot(page, "17-retry-unknown-dialog")
    page.get_by_test_id("retry-failed-only").click()
    expect(page.get_by_text("Nothing to retry")).to_be_visible()
    expect(dialog).to_have_count(0)
    assert _delivered_to(emulator, "retry.news@example.com") == sorted(addresses)  # nobody was sent it again

    page.get_by_test_id("retry-failed").click()
    page.get_by_test_id("retry-include-unknown").click()
    expect(page.get_by_text("1 recipient re-queued")).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("unknown-count")).to_contain_text("0")
    expect(page.get_by_test_id("sent-count")).to_contain_text("4")
    # The first send had in fact arrived, as the dialog warned: this recipient now has it twice.
    assert _delivered_to(emulator, "retry.news@example.com") == sorted([*addresses, unknown])
    page.context.close()

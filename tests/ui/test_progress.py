"""Live progress in the browser: the job page's rate, time left and live updates, the dashboard refreshing itself
with cancelled counts and a filter for test sends, a phone-width jobs list, one date format."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from mass_mailer.db import get_engine
from mass_mailer.models import User
from mass_mailer.services import jobs
from mass_mailer.state.dashboard import DashboardState
from mass_mailer.state.guard import handler_name
from mass_mailer.state.job import JobState

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CAPACITY = 2 * 120  # two senders at the UI tests' SENDER_RATE_PER_MINUTE
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
STATE_DIRS = [Path(__file__).resolve().parents[2] / "mass_mailer" / name for name in ("state", "pages", "components")]


class Account:
    """A user signed in through the demo Google flow, with two senders, driving the API as their browser does."""

    def __init__(self, app_url: str, email: str) -> None:
        self.app_url, self.email = app_url, email
        self.http = httpx.Client(base_url=app_url, follow_redirects=True, timeout=30, headers={"Origin": app_url})
        self.http.get(f"/api/auth/login?login_hint={quote(email)}&next=/")
        assert self.http.cookies.get("mm_token"), "no session cookie"
        for name in ("one", "two"):
            address = f"{name}.{email}"
            self.http.get(f"/api/senders/connect?login_hint={quote(address)}")
        assert len(self.http.get("/api/senders").json()) == 2

    def start(self, count: int, subject: str) -> int:
        answer = self.http.post("/api/email-jobs", json={
            "subject": subject, "html_content": "<p>Hello {{ email }}</p>",
            "recipients": [{"email": f"r{i}.{int(time.time() * 1000)}@example.org"} for i in range(count)]})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def start_test_send(self, subject: str) -> int:
        """What "Send test to myself" stores: a one-recipient job marked as a test."""
        with Session(get_engine(), expire_on_commit=False) as session:
            user = session.exec(select(User).where(User.email == self.email)).one()
            return jobs.create_job_from_list(session=session, user=user, subject=f"[Test] {subject}",
                                             html_content="<p>Hi</p>", recipients=[{"email": self.email}],
                                             is_test=True).id

    def status(self, job_id: int) -> dict:
        return self.http.get(f"/api/email-jobs/{job_id}/status").json()

    def browser_page(self, browser, viewport=LAPTOP) -> Page:
        context = browser.new_context(viewport=viewport)
        context.add_cookies([{"name": "mm_token", "value": self.http.cookies.get("mm_token"), "url": self.app_url,
                              "httpOnly": True}])
        return context.new_page()


class Ticks:
    """The tick events a page sends over its websocket, by handler."""

    def __init__(self, page: Page) -> None:
        self.sent: list[tuple[float, str]] = []
        page.on("websocket", lambda ws: ws.on("framesent", self._frame))

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            self.sent.append((time.monotonic(), payload))

    def count(self, state, since: float = 0.0) -> int:
        name = handler_name(state, "tick")
        return sum(1 for at, payload in self.sent if at >= since and f'"{name}"' in payload)


def _seconds(text: str) -> int:
    """'about 12 s left' / 'took 1 min 5 s' → seconds."""
    minutes = re.search(r"(\d+) min", text)
    seconds = re.search(r"(\d+) s\b", text)
    return (int(minutes.group(1)) * 60 if minutes else 0) + (int(seconds.group(1)) if seconds else 0)


def _number(page: Page, test_id: str) -> int:
    return int(re.findall(r"\d+", page.get_by_test_id(test_id).inner_text())[0])


def test_the_job_page_shows_the_real_pace_and_time_left_live_and_stops_when_the_job_ends(app_url, browser):
    account = Account(app_url, "pace@example.com")
    total = 60  # 15 s at 240 a minute
    job_id = account.start(total, "Pace check")
    page = account.browser_page(browser)
    ticks = Ticks(page)
    page.goto(app_url + f"/jobs/{job_id}")
    expect(page.get_by_test_id("sent-count")).to_be_visible(timeout=30_000)
    readings = []  # (monotonic time, sent, rate card text)
    while (sent := _number(page, "sent-count")) < total:
        readings.append((time.monotonic(), sent, page.get_by_test_id("rate-card").inner_text()))
        assert len(readings) < 400, readings[-3:]
        page.wait_for_timeout(200)
    ended = time.monotonic()
    rising = sorted({sent for _, sent, _ in readings if 0 < sent < total})
    assert len(rising) >= 5, f"the counters did not rise live: {rising}"

    timed = [(ended - at, text) for at, sent, text in readings if 4 <= sent <= total * 2 // 3 and "left" in text]
    assert len(timed) >= 5, readings
    for left, text in timed:
        # Seconds left, as it turned out; not "about 17 min left" for a job that ends in seconds.
        assert _seconds(text) <= 2.5 * left + 4, (text, left)
    rates = [int(found.group(1)) for _, sent, text in readings if sent >= 8
             if (found := re.search(r"(\d+)\s*/min", text))]
    assert len(rates) >= 5 and all(CAPACITY * 0.4 <= rate <= CAPACITY * 1.3 for rate in rates), readings

    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=20_000)
    expect(page.get_by_test_id("live")).to_have_count(0)
    card = page.get_by_test_id("rate-card")
    expect(card).to_contain_text("Average rate")
    expect(card).to_contain_text("took")
    finished = card.inner_text()
    average = int(re.search(r"(\d+)\s*/min", finished).group(1))
    assert CAPACITY * 0.5 <= average <= CAPACITY * 1.3, finished
    assert 5 <= _seconds(finished.split("took")[1]) <= 60, finished
    expect(page.get_by_test_id("recipient-row").first).to_contain_text(DATE)
    expect(page.get_by_text(re.compile(r"Job #\d+ · created " + DATE.pattern))).to_be_visible()

    # The page's ticker stops with the job: no more refreshes from this tab.
    assert ticks.count(JobState) >= 8
    quiet_since = time.monotonic()
    page.wait_for_timeout(3000)
    assert ticks.count(JobState, since=quiet_since) == 0
    page.context.close()


def test_leaving_a_running_job_stops_its_refreshes(app_url, browser):
    account = Account(app_url, "leaver@example.com")
    job_id = account.start(400, "Long one")
    page = account.browser_page(browser)
    ticks = Ticks(page)
    page.goto(app_url + f"/jobs/{job_id}")
    expect(page.get_by_test_id("live")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(3000)
    assert ticks.count(JobState) >= 2
    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    left_at = time.monotonic()
    page.wait_for_timeout(3000)
    assert ticks.count(JobState, since=left_at + 0.5) == 0
    assert ticks.count(DashboardState, since=left_at) >= 1  # the dashboard refreshes itself instead
    assert account.http.delete(f"/api/email-jobs/{job_id}").status_code == 200
    page.context.close()


def test_the_dashboard_updates_itself_shows_cancelled_counts_and_keeps_tests_apart(app_url, browser):
    account = Account(app_url, "dash@example.com")
    page = account.browser_page(browser)
    page.goto(app_url + "/")
    expect(page.get_by_text("No email sent yet")).to_be_visible(timeout=30_000)

    campaign = account.start(24, "Spring campaign")
    account.start_test_send("Spring campaign")
    page.reload()
    row = page.get_by_test_id("job-row").filter(has_text="Spring campaign").filter(has_not_text="[Test]")
    expect(row).to_have_count(1)
    expect(page.get_by_test_id("live")).to_be_visible()
    expect(page.get_by_test_id("stat-active")).to_have_text(re.compile(r"Active jobs\s*[12]\s*$"))
    # No reload from here on: the page follows the job by itself.
    expect(row).to_contain_text("completed", timeout=30_000)
    expect(row.get_by_test_id("job-counts")).to_contain_text("24 / 0 / 0 / 24")
    expect(page.get_by_test_id("stat-active")).to_have_text(re.compile(r"Active jobs\s*0\s*$"), timeout=10_000)
    expect(page.get_by_test_id("live")).to_have_count(0)
    expect(row).to_contain_text(DATE)
    assert account.status(campaign)["status"] == "completed"

    # Cancel a long job from its page, like a person, then come back.
    long_job = account.start(400, "Autumn campaign")
    page.goto(app_url + f"/jobs/{long_job}")
    expect(page.get_by_test_id("live")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)
    page.get_by_test_id("cancel-job").click()
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("pending-count")).to_contain_text("cancelled")
    page.wait_for_timeout(1500)  # a send under way when it was cancelled settles
    status = account.status(long_job)
    cancelled = status["cancelled"]
    assert cancelled > 0 and cancelled == 400 - status["sent"] - status["failed"]
    page.get_by_test_id("nav-dashboard").click()
    autumn = page.get_by_test_id("job-row").filter(has_text="Autumn campaign")
    expect(autumn).to_contain_text("cancelled")
    expect(autumn.get_by_test_id("job-counts")).to_contain_text(f" / {cancelled} / 400")
    expect(page.get_by_test_id("stat-cancelled")).to_contain_text(str(cancelled))

    kinds = page.get_by_test_id("job-kind")
    expect(page.get_by_test_id("job-row")).to_have_count(3)
    kinds.get_by_role("radio", name="Tests").click()
    expect(page.get_by_test_id("job-row")).to_have_count(1)
    expect(page.get_by_test_id("job-row")).to_contain_text("[Test] Spring campaign")
    kinds.get_by_role("radio", name="Campaigns").click()
    expect(page.get_by_test_id("job-row")).to_have_count(2)
    expect(page.get_by_test_id("job-row").filter(has_text="[Test]")).to_have_count(0)
    kinds.get_by_role("radio", name="All").click()
    expect(page.get_by_test_id("job-row")).to_have_count(3)
    page.context.close()

    phone = account.browser_page(browser, PHONE)
    phone.goto(app_url + "/")
    rows = phone.get_by_test_id("job-row")
    expect(rows).to_have_count(3, timeout=30_000)
    # Below 640 px each job is a card: no column headers, nothing cut off or wider than the screen.
    expect(phone.get_by_role("columnheader")).to_have_count(0)
    expect(rows.filter(has_text="Autumn campaign").get_by_test_id("job-counts")).to_contain_text(
        f"{cancelled} cancelled")
    card = phone.locator(".jobs-table").bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"], card
    for i in range(3):
        row = rows.nth(i)
        box = row.bounding_box()
        assert box["x"] >= card["x"] - 1 and box["x"] + box["width"] <= card["x"] + card["width"] + 1, box
        assert box["y"] >= card["y"] - 1 and box["y"] + box["height"] <= card["y"] + card["height"] + 1, (box, card)
        for part in ("job-counts", "link", "progressbar"):
            found = row.get_by_test_id(part) if part == "job-counts" else row.get_by_role(part)
            inner = found.bounding_box()
            assert inner["x"] >= box["x"] - 1 and inner["x"] + inner["width"] <= box["x"] + box["width"] + 1, (
                part, inner, box)
    phone.context.close()


@pytest.mark.no_services
def test_ui_states_do_not_reach_up_to_the_app_module_or_reflex_internals():
    """The job page once read the app's websocket namespace to learn if its tab was still open."""
    for folder in STATE_DIRS:
        for path in folder.glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    assert node.module != "mass_mailer.mass_mailer", path
                    assert not (node.module or "").startswith("reflex.app"), path
                elif isinstance(node, ast.Import):
                    assert all(alias.name != "mass_mailer.mass_mailer" for alias in node.names), path
                elif isinstance(node, ast.Attribute):
                    assert node.attr not in ("event_namespace", "token_to_sid"), (path, node.lineno)

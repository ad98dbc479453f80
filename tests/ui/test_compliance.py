"""Bulk-sender compliance in the browser: the suppression list (add, search, import, remove, export), the New email
page's unsubscribe warning and footer, addresses suppressed before and during a job, and warm-up of new senders."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from .fast_typing import FAST_MS, connect_sender_fast, sign_in_fast

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
UNSUBSCRIBE_LINK = re.compile(r'href="(http://127\.0\.0\.1:\d+/u/[^"]+)"')


def _new_page(browser) -> Page:
    return browser.new_context(viewport=LAPTOP, color_scheme="light").new_page()


def _api(page: Page, app_url: str) -> httpx.Client:
    """The signed-in user's session, for what the test checks or prepares through the API."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "mm_token")
    return httpx.Client(base_url=app_url, cookies={"mm_token": cookie}, headers={"Origin": app_url}, timeout=15)


def _editor_text(page: Page) -> str:
    return page.evaluate("""() => {
        const lines = [...document.querySelectorAll('[data-testid=html-editor] .cm-line')];
        return lines.map(line => line.textContent).join('\\n');
    }""")


def _replace_editor_text(page: Page, text: str) -> None:
    editor = page.locator("[data-testid=html-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.press_sequentially(text, delay=FAST_MS, timeout=60_000)


def _upload(page: Page, data: bytes, name: str = "r.csv") -> None:
    page.locator("input[type=file]").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})


def _add_suppression(page: Page, address: str) -> None:
    page.get_by_test_id("suppress-address").press_sequentially(address, delay=FAST_MS)
    page.get_by_test_id("suppress-add").click()  # at once, no pause after the last key


def _rows(page: Page):
    return page.get_by_test_id("suppression-row")


def test_the_suppression_list_is_added_to_searched_imported_removed_and_exported(app_url, browser, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "lister@example.com")
    page.get_by_test_id("nav-suppressions").click()
    expect(page.get_by_role("heading", name="Suppressions")).to_be_visible()
    expect(page.get_by_text("No suppressed address yet")).to_be_visible()

    _add_suppression(page, "not-an-address")
    expect(page.get_by_test_id("suppress-error")).to_contain_text("Not an email address")
    expect(_rows(page)).to_have_count(0)
    page.get_by_test_id("suppress-address").fill("")
    _add_suppression(page, "Blocked.One@Example.org")
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page)).to_contain_text("blocked.one@example.org")  # compared and kept in lower case
    expect(_rows(page)).to_contain_text("added by hand")
    expect(page.get_by_test_id("suppress-error")).to_have_count(0)
    expect(page.get_by_test_id("suppress-address")).to_have_value("")  # the form is ready for the next one

    data = b"Email,Name\nsecond.one@example.org,S\nthird.one@example.org,T\nblocked.one@example.org,B\nbroken,X\n"
    _upload(page, data, "unsubscribed.csv")
    expect(page.get_by_test_id("import-added")).to_have_text("2 added")
    expect(page.get_by_test_id("import-already")).to_have_text("1 already on the list")
    expect(page.get_by_test_id("import-rejected")).to_have_text("1 rejected")
    expect(page.get_by_test_id("import-result")).to_contain_text("broken")
    expect(_rows(page)).to_have_count(3)
    expect(_rows(page).filter(has_text="third.one@example.org")).to_contain_text("imported")

    search = page.get_by_test_id("suppression-search")
    search.press_sequentially("third", delay=FAST_MS)
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page)).to_contain_text("third.one@example.org")
    search.fill("nobody-like-this")
    expect(page.get_by_text("No address matches")).to_be_visible()
    search.fill("")
    expect(_rows(page)).to_have_count(3)
    shoot(page, "19-suppressions")

    row = _rows(page).filter(has_text="second.one@example.org")
    row.get_by_test_id("remove-suppression").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("second.one@example.org")
    page.get_by_test_id("confirm-remove-suppression").click()
    expect(dialog).to_have_count(0)
    expect(_rows(page)).to_have_count(2)
    expect(_rows(page).filter(has_text="second.one@example.org")).to_have_count(0)

    href = page.get_by_test_id("export-suppressions").get_attribute("href")
    with _api(page, app_url) as api:
        answer = api.get(href)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    exported = sorted(r["email"] for r in csv.DictReader(io.StringIO(answer.text)))
    assert exported == ["blocked.one@example.org", "third.one@example.org"]

    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=15_000)  # the toasts have gone
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("suppress-add")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
    shoot(page, "20-phone-suppressions", full_page=True)
    page.context.close()


def test_new_email_asks_for_an_unsubscribe_link_and_suppressed_addresses_get_nothing(app_url, browser, emulator,
                                                                                    shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "compliant@example.com")
    connect_sender_fast(page, "compliant.news@example.com")
    page.get_by_test_id("nav-suppressions").click()
    _add_suppression(page, "blocked@example.org")
    expect(_rows(page)).to_have_count(1)

    page.get_by_test_id("nav-new-email").click()
    expect(page.get_by_role("heading", name="New email")).to_be_visible()  # not the last page's file input
    _upload(page, b"email,first_name\nann@example.org,Ann\nblocked@example.org,Bo\nbob@example.org,Bob\n")
    expect(page.get_by_test_id("valid-count")).to_contain_text("2")  # the suppressed address is not counted
    rejected = page.get_by_test_id("rejected-row")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("blocked@example.org")
    expect(rejected).to_contain_text("suppressed: added by hand on")

    _replace_editor_text(page, "<p>Hi {{ first_name }}, our news is out.</p>")
    warning = page.get_by_test_id("unsubscribe-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Gmail and Yahoo require")
    expect(page.get_by_test_id("field-warning")).to_have_count(0)
    page.get_by_test_id("unsubscribe-warning").scroll_into_view_if_needed()
    shoot(page, "21-new-email-unsubscribe-warning")
    page.get_by_test_id("add-unsubscribe-footer").click()  # at once, no pause after the last key
    expect(warning).to_have_count(0)
    expect(page.locator("[data-testid=html-editor] .cm-content")).to_contain_text("{{ unsubscribe_url }}")
    assert _editor_text(page).startswith("<p>Hi {{ first_name }}, our news is out.</p>"), "keystrokes were lost"
    preview = page.get_by_test_id("preview-frame")
    expect(preview).to_have_attribute("srcdoc", re.compile(re.escape(app_url) + r"/u/[\w.-]+"))
    expect(page.get_by_test_id("field-warning")).to_have_count(0)  # unsubscribe_url is a known field

    # The editor goes on taking keystrokes after the footer, and what it shows is what is sent.
    editor = page.locator("[data-testid=html-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    editor.press_sequentially("\n<p>PS: see you soon.</p>", delay=FAST_MS)
    shown = _editor_text(page)
    expect(preview).to_have_attribute("srcdoc", re.compile("PS: see you soon."))
    shoot(page, "22-new-email-footer")
    page.get_by_test_id("start-sending").click()  # at once, no pause after the last key
    page.wait_for_url("**/jobs/*", timeout=20_000)
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)
    with _api(page, app_url) as api:
        stored = api.get(f"/api/email-jobs/{job_id}").json()
    assert stored["html_content"] == shown and stored["total_recipients"] == 2
    assert "PS: see you soon." in shown and "{{ unsubscribe_url }}" in shown

    assert emulator.messages(to="blocked@example.org") == []
    (message,) = emulator.messages(to="ann@example.org")
    (link,) = UNSUBSCRIBE_LINK.findall(message["html"])
    assert "Unsubscribe</a>" in message["html"] and "PS: see you soon." in message["html"]
    assert httpx.get(link, timeout=10).status_code == 200  # a page asking to confirm; a GET changes nothing
    assert httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 200

    page.get_by_test_id("nav-suppressions").click()
    row = _rows(page).filter(has_text="ann@example.org")
    expect(row).to_contain_text("unsubscribed")
    row.get_by_test_id("suppression-job").click()  # the job its message came from
    page.wait_for_url(f"**/jobs/{job_id}")
    expect(page.get_by_test_id("job-status")).to_have_text("completed")
    page.context.close()


def test_an_address_suppressed_while_its_job_runs_is_skipped_and_counted(app_url, browser, emulator, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "midway@example.com")
    connect_sender_fast(page, "midway.news@example.com")
    page.get_by_test_id("nav-new-email").click()
    addresses = [f"reader{i}@example.org" for i in range(1, 21)]  # 10 s through one sender at 120 a minute
    _upload(page, ("email\n" + "\n".join(addresses) + "\n").encode())
    expect(page.get_by_test_id("valid-count")).to_contain_text("20")
    page.get_by_test_id("campaign-name").press_sequentially("Midway", delay=FAST_MS)
    page.get_by_test_id("start-sending").click()
    page.wait_for_url("**/jobs/*", timeout=20_000)
    with _api(page, app_url) as api:  # the last recipient unsubscribes (here: is added) while the job runs
        assert api.post("/api/suppressions", json={"email": addresses[-1]}).status_code == 201
    expect(page.get_by_test_id("suppressed-count")).to_contain_text("1", timeout=20_000)
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("sent-count")).to_contain_text("19")
    page.get_by_test_id("status-filter").get_by_role("radio", name="Suppressed").click()
    expect(page.get_by_test_id("recipient-row")).to_have_count(1)
    expect(page.get_by_test_id("recipient-row")).to_contain_text(addresses[-1])
    assert emulator.messages(to=addresses[-1]) == []
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the job page scrolls sideways on a phone ({width} px)"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of the full-page picture
    shoot(page, "23-phone-job-suppressed", full_page=True)
    page.set_viewport_size(LAPTOP)
    page.get_by_test_id("nav-dashboard").click()
    row = page.get_by_test_id("job-row").filter(has_text="Midway")
    expect(row.get_by_test_id("job-suppressed")).to_have_text(" · 1 suppressed")
    page.context.close()


def test_a_new_account_warms_up_and_the_switch_turns_it_off_and_on(app_url, browser, shoot):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "warmer@example.com")
    page.get_by_test_id("nav-senders").click()
    page.get_by_test_id("add-sender").click()
    page.get_by_test_id("sender-address").press_sequentially("fresh.account@example.com", delay=FAST_MS)
    page.get_by_test_id("sender-warmup").click()
    page.get_by_test_id("connect-sender").click()  # at once
    card = page.get_by_test_id("sender-card").filter(has_text="fresh.account@example.com")
    expect(card).to_be_visible(timeout=20_000)
    switch = card.get_by_test_id("warmup-switch")
    expect(switch).to_have_attribute("data-state", "checked")
    expect(card.get_by_test_id("warmup-note")).to_contain_text("Warm-up step 1 of 5: 50/day (next step on ")
    expect(card.get_by_test_id("warmup-note")).to_contain_text(" if it sends today)")
    expect(card.get_by_test_id("sender-quota-use")).to_have_text("0 / 50 (own quota 2000)")
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=15_000)  # "Connected ..." has gone
    shoot(page, "24-senders-warmup")
    page.set_viewport_size(PHONE)
    shoot(page, "25-phone-senders-warmup", full_page=True)
    page.set_viewport_size(LAPTOP)

    switch.click()
    expect(switch).to_have_attribute("data-state", "unchecked")
    expect(card.get_by_test_id("warmup-note")).to_have_count(0)
    expect(card.get_by_test_id("sender-quota-use")).to_have_text("0 / 2000")
    with _api(page, app_url) as api:
        (sender,) = api.get("/api/senders").json()
        assert sender["warmup"] is False and sender["effective_quota"] == 2000
    switch.click()
    expect(switch).to_have_attribute("data-state", "checked")
    expect(card.get_by_test_id("sender-quota-use")).to_have_text("0 / 50 (own quota 2000)")

    connect_sender_fast(page, "old.account@example.com")  # the box left unticked: no warm-up
    old = page.get_by_test_id("sender-card").filter(has_text="old.account@example.com")
    expect(old.get_by_test_id("warmup-switch")).to_have_attribute("data-state", "unchecked")
    expect(old.get_by_test_id("sender-quota-use")).to_have_text("0 / 2000")
    page.context.close()

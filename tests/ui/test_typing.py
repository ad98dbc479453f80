"""What is typed is what is used and sent: at a person's speed and faster (10 ms a key), clicking at once."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from mass_mailer.services.templating import render_preview

from .fast_typing import FAST_MS, connect_sender_fast, sign_in_fast

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

TEMPLATE = (
    '<div style="font-family: sans-serif; padding: 12px;">\n'
    "<h1>Hi {{ first_name | default('friend') }},</h1>\n"
    "<p>Your company {{ company }} is invited to our spring launch on 14 May.</p>\n"
    '<p><a href="https://example.com/launch?ref={{ email }}">Reserve a seat</a> before Friday.</p>\n'
    "<p>See you soon! (no tags are closed for you)</p>\n"
    "</div>"
)
SUBJECT = "Spring launch for {{ company }}"


def _new_page(browser) -> Page:
    return browser.new_context(viewport={"width": 1440, "height": 900}).new_page()


def _editor_text(page: Page) -> str:
    return page.evaluate("""() => {
        const lines = [...document.querySelectorAll('[data-testid=html-editor] .cm-line')];
        return lines.map(line => line.textContent).join('\\n');
    }""")


@pytest.mark.parametrize("submit", ["click", "enter"])
def test_sign_in_uses_exactly_the_typed_address(app_url, browser, submit):
    page = _new_page(browser)
    sign_in_fast(page, app_url, f"typed.{submit}@example.com", submit)
    page.context.close()


def test_an_empty_or_invalid_address_is_refused_not_replaced(app_url, browser):
    page = _new_page(browser)
    page.goto(app_url + "/")
    page.get_by_test_id("sign-in").click()  # empty field: the browser refuses to submit
    page.wait_for_timeout(500)
    expect(page.get_by_test_id("login-hint")).to_be_visible()
    assert page.evaluate("document.querySelector('[data-testid=login-hint] input, input[name=login_hint]')"
                         ".validity.valueMissing")
    page.get_by_test_id("login-hint").press_sequentially("not-an-address", delay=FAST_MS)
    page.get_by_test_id("sign-in").click()
    page.wait_for_timeout(500)
    expect(page.get_by_test_id("login-hint")).to_be_visible()  # still on the sign-in screen
    # A hand-written link with a bad address is refused by the server too, with a message, never a default.
    page.goto(app_url + "/api/auth/login?login_hint=nobody&next=/senders")
    expect(page.get_by_test_id("sign-in-error")).to_contain_text("valid email address")
    assert "demo@example.com" not in page.content()
    page.context.close()


def test_a_quickly_typed_sender_address_is_the_one_connected(app_url, browser):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "owner.fast@example.com")
    connect_sender_fast(page, "quick.sender@example.com")
    expect(page.get_by_test_id("sender-card")).to_have_count(1)
    expect(page.get_by_text("Connected quick.sender@example.com")).to_be_visible()
    page.get_by_test_id("nav-new-email").click()  # the toast stays with the page that raised it
    expect(page.get_by_role("heading", name="New email")).to_be_visible()
    expect(page.get_by_text("Connected quick.sender@example.com")).to_have_count(0)
    page.context.close()


def test_what_is_typed_in_the_editor_is_what_is_sent(app_url, browser, emulator):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "writer.fast@example.com")
    connect_sender_fast(page, "writer.news@example.com")

    page.get_by_test_id("nav-new-email").click()
    csv = b"email,first_name,company\nreader.one@example.org,Ann,Acme\nreader.two@example.org,,Globex\n"
    page.locator("input[type=file]").set_input_files({"name": "r.csv", "mimeType": "text/csv", "buffer": csv})
    expect(page.get_by_test_id("valid-count")).to_contain_text("2")

    page.get_by_test_id("campaign-name").press_sequentially("Spring launch", delay=FAST_MS)
    subject = page.get_by_test_id("subject")
    subject.click()
    subject.press("Control+A")
    subject.press("Delete")
    subject.press_sequentially(SUBJECT, delay=FAST_MS, timeout=60_000)
    editor = page.locator("[data-testid=html-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.press_sequentially(TEMPLATE, delay=FAST_MS, timeout=120_000)
    typed = _editor_text(page)
    page.get_by_test_id("start-sending").click()  # at once, no pause after the last key
    # The editor indents a new line as a person types it; every character typed is there, in order.
    assert [line.lstrip() for line in typed.split("\n")] == TEMPLATE.split("\n"), "keystrokes were lost"
    page.wait_for_url("**/jobs/*", timeout=20_000)
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    time.sleep(1.5)  # anything the page would still echo back arrives within this
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=60_000)

    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "mm_token")
    stored = httpx.get(f"{app_url}/api/email-jobs/{job_id}", cookies={"mm_token": cookie}, timeout=10).json()
    assert stored["html_content"] == typed and stored["subject"] == SUBJECT  # the editor's text, as it was
    assert stored["name"] == "Spring launch"
    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("job-row").first).to_contain_text("Spring launch")  # listed by its name
    for address, row in (("reader.one@example.org", {"first_name": "Ann", "company": "Acme"}),
                         ("reader.two@example.org", {"company": "Globex"})):
        (message,) = emulator.messages(to=address)
        expected_subject, expected_html = render_preview(SUBJECT, typed, {"email": address, **row})
        assert message["subject"] == expected_subject
        assert message["html"].replace("\r\n", "\n").strip() == expected_html.strip()
    page.context.close()


def test_the_preview_never_pretends_and_unknown_fields_are_named(app_url, browser):
    page = _new_page(browser)
    sign_in_fast(page, app_url, "checker@example.com")
    page.get_by_test_id("nav-new-email").click()
    expect(page.get_by_test_id("start-blocker")).to_contain_text("Upload a CSV file")
    header_only = b"email,first_name\n"
    page.locator("input[type=file]").set_input_files({"name": "h.csv", "mimeType": "text/csv", "buffer": header_only})
    expect(page.get_by_test_id("csv-error")).to_contain_text("header row but no recipients")
    csv = b"email,first_name\nann@example.org,Ann\n"
    page.locator("input[type=file]").set_input_files({"name": "r.csv", "mimeType": "text/csv", "buffer": csv})
    expect(page.get_by_test_id("valid-count")).to_contain_text("1")
    editor = page.locator("[data-testid=html-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.press_sequentially("<p>Hi {{ frist_name }}</p>", delay=FAST_MS)
    expect(page.get_by_test_id("field-warning")).to_contain_text("did you mean {{ first_name }}")
    editor.press_sequentially("{% if %}", delay=FAST_MS)
    expect(page.get_by_test_id("template-error")).to_be_visible()
    expect(page.get_by_test_id("preview-frame")).to_have_count(0)  # no stale preview beside the error
    expect(page.get_by_test_id("template-error")).not_to_contain_text("html_content")
    expect(page.get_by_test_id("start-blocker")).to_contain_text("Fix the template")
    typed = _editor_text(page)
    page.get_by_test_id("nav-senders").click()  # away and back: the editor shows what was typed, not an old copy
    page.get_by_test_id("nav-new-email").click()
    expect(page.locator("[data-testid=html-editor] .cm-content")).to_contain_text("{% if %}")
    assert _editor_text(page) == typed
    page.context.close()


def test_pages_have_an_icon(app_url, browser):
    page = _new_page(browser)
    page.goto(app_url + "/")
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=30_000)
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = httpx.get(app_url + icon, timeout=10)
    assert answer.status_code == 200 and "svg" in answer.headers["content-type"]
    page.context.close()

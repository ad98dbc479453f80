"""A whole journey through the UI in a real browser: sign in, senders, compose, send, watch, export, administer."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
RECIPIENTS = 30


def _csv_bytes() -> bytes:
    lines = ["email,First Name,Company"]
    lines += [f"reader{i}@example.org,Reader{i},Acme {i}" for i in range(1, RECIPIENTS + 1)]
    lines.insert(5, "not-an-email,Broken,Nowhere")
    return ("\n".join(lines) + "\n").encode()


def _sign_in(page: Page, app_url: str, email: str) -> None:
    page.goto(app_url + "/")
    expect(page.get_by_test_id("demo-banner")).to_be_visible()
    page.get_by_test_id("login-hint").fill(email)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)


def _connect_sender(page: Page, address: str) -> None:
    page.get_by_test_id("add-sender").click()
    page.get_by_test_id("sender-address").fill(address)
    page.get_by_test_id("connect-sender").click()
    page.wait_for_url(re.compile(r"/senders/?\?connected=" + re.escape(quote(address))))
    expect(page.get_by_test_id("sender-card").filter(has_text=address)).to_be_visible()


def _replace_html(page: Page, html: str) -> None:
    page.locator("[data-testid=html-editor] .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(html)  # replaces the selection in one edit, as a paste does


def _counter(page: Page, test_id: str) -> int:
    text = page.get_by_test_id(test_id).inner_text()
    return int(re.findall(r"\d+", text)[-1])


def test_sign_in_send_watch_export_and_administer(app_url, browser, shoot, emulator):
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()

    page.goto(app_url + "/")
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=30_000)
    shoot(page, "01-sign-in")
    _sign_in(page, app_url, "alice@example.com")

    page.get_by_test_id("nav-senders").click()
    _connect_sender(page, "news@example.com")
    _connect_sender(page, "promo@example.com")
    expect(page.get_by_test_id("sender-card")).to_have_count(2)
    shoot(page, "03-senders")

    page.get_by_test_id("nav-new-email").click()
    upload = page.locator("input[type=file]")
    upload.set_input_files({"name": "bad.csv", "mimeType": "text/csv", "buffer": b"name,city\nAnn,Paris\n"})
    expect(page.get_by_test_id("choose-email-column")).to_be_visible()  # no dead end: a column to choose
    expect(page.get_by_test_id("start-blocker")).to_contain_text("Choose the column")
    expect(page.get_by_test_id("field-map-row")).to_have_count(2)
    page.get_by_role("button", name="Remove file").click()
    upload.set_input_files({"name": "readers.csv", "mimeType": "text/csv", "buffer": _csv_bytes()})
    expect(page.get_by_test_id("valid-count")).to_contain_text(str(RECIPIENTS))
    expect(page.get_by_test_id("rejected-row")).to_have_count(1)
    expect(page.get_by_test_id("rejected-row")).to_contain_text("not-an-email")
    expect(page.get_by_test_id("estimate")).to_contain_text("/min")

    page.get_by_test_id("subject").fill("News for {{ first_name }}")
    _replace_html(page, "<p>Broken {% if %}</p>")
    expect(page.get_by_test_id("template-error")).to_contain_text("syntax error")
    _replace_html(page, "<h1>Hello {{ first_name }} of {{ company }}</h1><p>Fresh news.</p>")
    expect(page.get_by_test_id("template-error")).to_have_count(0)
    preview = page.frame_locator("[data-testid=preview-frame]")
    expect(preview.locator("h1")).to_have_text("Hello Reader1 of Acme 1", timeout=15_000)
    expect(page.get_by_test_id("preview-subject")).to_contain_text("News for Reader1")
    shoot(page, "04-new-email", full_page=True)
    page.get_by_test_id("send-test").click()
    expect(page.get_by_text("Test email to alice@example.com queued")).to_be_visible()

    page.get_by_test_id("start-sending").click()
    page.wait_for_url(re.compile(r"/jobs/\d+"))
    job_id = int(re.search(r"/jobs/(\d+)", page.url).group(1))
    expect(page.get_by_test_id("sent-count")).to_be_visible()
    seen, shot_mid = [], False
    for _ in range(240):
        sent = _counter(page, "sent-count")
        if not seen or sent != seen[-1]:
            seen.append(sent)
        if 0 < sent < RECIPIENTS and not shot_mid:
            shoot(page, "05-job-live", full_page=True)
            shot_mid = True
        if sent == RECIPIENTS:
            break
        page.wait_for_timeout(250)
    assert seen[-1] == RECIPIENTS, seen
    assert len([s for s in seen if 0 < s < RECIPIENTS]) >= 2, f"counters did not rise live: {seen}"
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=20_000)
    expect(page.get_by_test_id("recipient-row")).to_have_count(25)

    page.get_by_role("radio", name="Failed").click()
    expect(page.get_by_test_id("recipient-row")).to_have_count(0)
    page.get_by_role("radio", name="Sent").click()
    page.get_by_test_id("recipient-search").fill("reader17@")
    expect(page.get_by_test_id("recipient-row")).to_have_count(1)
    expect(page.get_by_test_id("recipient-row")).to_contain_text("sent")
    page.get_by_test_id("recipient-search").fill("")
    expect(page.get_by_test_id("recipient-row")).to_have_count(25)
    shoot(page, "06-job-done", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    exported = list(csv.DictReader(io.StringIO(open(download_info.value.path(), encoding="utf-8").read())))
    assert len(exported) == RECIPIENTS
    assert {row["status"] for row in exported} == {"sent"}
    assert {row["sender"] for row in exported} == {"news@example.com", "promo@example.com"}

    delivered = httpx.get(emulator.url + "/_emulator/messages", params={"to": "reader1@example.org"}).json()
    assert [m["subject"] for m in delivered["messages"]] == ["News for Reader1"]

    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("job-row")).to_have_count(2)  # the test email is a one-recipient job
    expect(page.get_by_test_id("job-row").filter(has_text="[Test]")).to_contain_text("completed")
    shoot(page, "02-dashboard")
    page.set_viewport_size(PHONE)  # below 640 px the jobs are cards
    expect(page.get_by_role("columnheader")).to_have_count(0)
    shoot(page, "10-phone-dashboard")
    page.set_viewport_size(LAPTOP)

    page.get_by_test_id("nav-outbox").click()
    expect(page.get_by_test_id("outbox-row")).to_have_count(RECIPIENTS + 1)
    expect(page.get_by_test_id("outbox-row").filter(has_text="alice@example.com")).to_contain_text("[Test] News for Reader1")
    page.get_by_test_id("outbox-row").filter(has_text="reader2@example.org").click()
    expect(page.frame_locator("iframe[title='Email preview']").locator("h1")).to_have_text("Hello Reader2 of Acme 2")
    shoot(page, "08-outbox-message")
    page.keyboard.press("Escape")

    bob = browser.new_context(viewport=PHONE)
    bob_page = bob.new_page()
    _sign_in(bob_page, app_url, "bob@example.com")
    expect(bob_page.get_by_text("No email sent yet")).to_be_visible()
    bob_page.goto(app_url + f"/jobs/{job_id}")
    expect(bob_page.get_by_text("Job not found").first).to_be_visible()
    bob_page.goto(app_url + "/admin")
    expect(bob_page.get_by_text("Admins only")).to_be_visible(timeout=15_000)
    bob_page.goto(app_url + "/")
    expect(bob_page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_test_id("nav-admin").click()
    expect(page.get_by_test_id("user-row")).to_have_count(2)
    # The system panel: the app's worker and scheduler are alive, and this journey's sends are counted.
    expect(page.get_by_test_id("system-scheduler")).to_contain_text("running")
    expect(page.get_by_test_id("system-workers")).not_to_contain_text("—")
    expect(page.get_by_test_id("system-sends")).not_to_contain_text("—")
    page.get_by_test_id("user-row").filter(has_text="bob@example.com").get_by_role("combobox").click()
    page.get_by_role("option", name="admin").click()
    expect(page.get_by_text("Updated bob@example.com")).to_be_visible()
    shoot(page, "07-admin")
    bob_page.reload()
    expect(bob_page.get_by_test_id("demo-banner")).to_be_visible()
    bob_page.goto(app_url + "/admin")
    expect(bob_page.get_by_test_id("user-row")).to_have_count(2)
    bob.close()

    page.get_by_test_id("nav-profile").click()
    page.get_by_test_id("profile-name").fill("Alice Liddell")
    page.get_by_test_id("save-name").click()
    expect(page.get_by_text("Name saved")).to_be_visible()
    expect(page.get_by_text("Alice Liddell").first).to_be_visible()
    shoot(page, "09-profile")

    page.emulate_media(color_scheme="dark")
    page.goto(app_url + f"/jobs/{job_id}")
    expect(page.get_by_test_id("job-status")).to_have_text("completed")
    shoot(page, "11-job-dark")
    tab_token = page.evaluate("window.sessionStorage.getItem('token')")
    assert tab_token
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    # Signing out ends the tab's UI session too: the page after it runs under a new client token.
    assert page.evaluate("window.sessionStorage.getItem('token')") not in (None, tab_token)
    context.close()

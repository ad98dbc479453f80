"""A person in a hurry: typing at 10 ms a key and clicking at once, with no pause after the last key."""

from __future__ import annotations

from playwright.sync_api import Page, expect

FAST_MS = 10


def sign_in_fast(page: Page, app_url: str, email: str, submit: str = "click") -> None:
    page.goto(app_url + "/")
    field = page.get_by_test_id("login-hint")
    field.press_sequentially(email, delay=FAST_MS)
    if submit == "enter":
        field.press("Enter")
    else:
        page.get_by_test_id("sign-in").click()  # at once, no pause after the last key
    page.wait_for_load_state()
    assert "Not Found" not in page.content(), page.url
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)
    expect(page.get_by_text(email).first).to_be_visible()


def connect_sender_fast(page: Page, address: str) -> None:
    page.get_by_test_id("nav-senders").click()
    page.get_by_test_id("add-sender").click()
    page.get_by_test_id("sender-address").press_sequentially(address, delay=FAST_MS)
    page.get_by_test_id("connect-sender").click()  # at once, no pause after the last key
    expect(page.get_by_test_id("sender-card").filter(has_text=address)).to_be_visible(timeout=20_000)

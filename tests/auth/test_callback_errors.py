"""Callback errors reach the page as codes with fixed messages: a link cannot make the app say anything."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from mass_mailer.services import callback_errors
from mass_mailer.state.senders import SendersState
from tests.auth.ui_state import fire, tab

PLANTED = "Your account was suspended. Call +1 555 0100 now and give your password"


def _page_toast(agent, query: str):
    from tests.auth.ui_state import toast

    return toast(fire(tab(SendersState, token=agent.token, path="/senders", query=query), "load"))


def test_the_senders_page_never_shows_text_from_the_link(signed_in):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("s@example.com").status_code == 302
    from urllib.parse import urlencode

    assert _page_toast(alice, urlencode({"error": PLANTED})) == ("error", callback_errors.GENERIC)
    assert _page_toast(alice, urlencode({"connected": PLANTED})) is None
    assert _page_toast(alice, urlencode({"connected": "someone-else@example.com"})) is None
    assert _page_toast(alice, "connected=s%40example.com") == ("success", "Connected s@example.com")
    for code, message in callback_errors.MESSAGES.items():
        assert _page_toast(alice, f"error={code}") == ("error", message)


def _browser_connect(agent, email: str) -> dict[str, str]:
    start = agent.get("/api/senders/connect", params={"login_hint": email})
    assert start.status_code == 302
    return agent.consent(start.headers["location"])


def test_browser_flows_come_back_with_an_error_code_only(signed_in, emulator_config):
    alice = signed_in("alice@example.com")
    emulator_config(drop_scopes=["https://www.googleapis.com/auth/gmail.send"])
    back = alice.callback(_browser_connect(alice, "s@example.com"))
    assert back.headers["location"] == "/senders?error=no_send_permission"
    emulator_config(drop_scopes=[])
    params = _browser_connect(alice, "s@example.com")
    params.pop("code")
    params["error"] = PLANTED  # what a forged return from Google could carry
    back = alice.callback(params)
    assert back.headers["location"] == "/senders?error=access_denied"
    assert PLANTED.split()[0] not in back.headers["location"]


@pytest.mark.parametrize("flow", ["api", "browser"])
def test_a_sign_in_error_is_a_code_for_browsers_and_a_sentence_for_api_clients(browser, emulator_config, flow):
    emulator_config(deny_consent=True)
    if flow == "api":
        answer = browser.callback(browser.consent(browser.start_sign_in("a@example.com")))
        assert answer.status_code == 400 and "did not grant access" in answer.json()["detail"]
    else:
        start = browser.get("/api/auth/login", params={"login_hint": "a@example.com"})
        answer = browser.callback(browser.consent(start.headers["location"]))
        assert answer.status_code == 302
        assert parse_qs(urlsplit(answer.headers["location"]).query) == {"error": ["access_denied"]}

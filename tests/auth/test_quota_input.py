"""The daily quota: the senders page and PATCH /api/senders/{id} accept exactly the same values."""

from __future__ import annotations

import pytest

from mass_mailer.errors import InvalidInput
from mass_mailer.state.senders import SendersState
from tests.auth.ui_state import fire, tab

REFUSED = ["١٢", "１２", "²", "0", "-5", "+5", "5.0", "1e3", "", "  ", "10001", "99999999999",
           "9223372036854775808", "12abc"]
ACCEPTED = [("1", 1), (" 25 ", 25), ("10000", 10000), ("0042", 42)]


@pytest.fixture
def alice_with_sender(signed_in):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("s@example.com", daily_quota=500).status_code == 302
    (sender,) = alice.get("/api/senders").json()
    return alice, sender["id"]


def _quota(alice) -> int:
    return alice.get("/api/senders").json()[0]["daily_quota"]


def _save_from_the_page(alice, sender_id: int, text: str):
    state = tab(SendersState, token=alice.token, path="/senders")
    fire(state, "start_edit", sender_id=sender_id, email="s@example.com", quota=500)
    fire(state, "set_editing_quota", value=text)
    return fire(state, "save_quota")


@pytest.mark.parametrize("text", REFUSED)
def test_the_page_refuses_what_the_api_refuses(alice_with_sender, text):
    alice, sender_id = alice_with_sender
    with pytest.raises(InvalidInput, match="whole number from 1 to 10,000"):
        _save_from_the_page(alice, sender_id, text)
    assert _quota(alice) == 500
    answer = alice.patch(f"/api/senders/{sender_id}", json={"daily_quota": text})
    assert answer.status_code == 422 and _quota(alice) == 500


@pytest.mark.parametrize("text, value", ACCEPTED)
def test_the_page_saves_plain_whole_numbers_in_range(alice_with_sender, text, value):
    alice, sender_id = alice_with_sender
    _save_from_the_page(alice, sender_id, text)
    assert _quota(alice) == value


@pytest.mark.parametrize("text", REFUSED)
def test_connecting_an_account_from_the_page_refuses_the_same_quotas(signed_in, text):
    alice = signed_in("alice@example.com")
    answer = alice.get("/api/senders/connect", params={"login_hint": "s@example.com", "daily_quota": text})
    assert answer.status_code == 422, text
    assert "set-cookie" not in answer.headers  # no flow was started
    assert alice.get("/api/senders/connect", params={"daily_quota": " 25 "}).status_code == 302


def test_the_api_bounds_are_the_shared_ones(alice_with_sender):
    alice, sender_id = alice_with_sender
    assert alice.patch(f"/api/senders/{sender_id}", json={"daily_quota": 10_000}).status_code == 200
    assert alice.patch(f"/api/senders/{sender_id}", json={"daily_quota": 10_001}).status_code == 422
    assert alice.get("/api/senders/connect", params={"daily_quota": 10_001}).status_code == 422

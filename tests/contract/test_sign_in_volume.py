"""Many people behind one address (an office, a test harness) can all sign in within a minute."""

from __future__ import annotations

from auth.conftest import Browser


def test_forty_sign_ins_from_one_address_in_a_row_all_succeed():
    for n in range(40):
        agent = Browser()
        answer = agent.sign_in(f"user{n}@example.com")
        assert answer.status_code == 302, (n, answer.text)
        assert agent.get("/api/auth/me").json()["email"] == f"user{n}@example.com"

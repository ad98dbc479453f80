"""Every error is {"detail": "<text>"} with a fitting status; no bad input ever reaches a 500."""

from __future__ import annotations

import pytest


def _assert_error(answer, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["detail"], str) and answer.json()["detail"]


@pytest.mark.parametrize("method,path,body", [
    ("get", "/api/email-jobs?limit=abc", None),
    ("get", "/api/email-jobs?limit=-1", None),
    ("get", "/api/email-jobs?limit=100000000000000000000", None),
    ("get", "/api/email-jobs/not-a-number", None),
    ("get", "/api/email-jobs/1/recipients?status=weird", None),
    ("get", "/api/senders/abc", None),
    ("patch", "/api/senders/1", {"daily_quota": "many"}),
    ("patch", "/api/users/abc", {"role": "user"}),
    ("patch", "/api/users/1", {"role": "root"}),
    ("post", "/api/senders", {"daily_quota": 0}),
])
def test_validation_errors_have_a_text_detail(signed_in, method, path, body):
    alice = signed_in("alice@example.com")
    answer = getattr(alice, method)(path, **({"json": body} if body is not None else {}))
    _assert_error(answer, 422)
    assert "Invalid request" in answer.json()["detail"]


def test_malformed_json_has_a_text_detail(signed_in):
    alice = signed_in("alice@example.com")
    answer = alice.patch("/api/auth/me", content=b"{bad", headers={"Content-Type": "application/json"})
    _assert_error(answer, 422)
    assert answer.json()["detail"] == "Invalid request: the body is not valid JSON"
    answer = alice.post("/api/email-jobs", content=b"{bad", headers={"Content-Type": "application/json"})
    _assert_error(answer, 400)
    assert answer.json()["detail"] == "Invalid request: the body is not valid JSON"


@pytest.mark.parametrize("path", ["/api/email-jobs?offset=99999999999999999999",
                                  "/api/email-jobs/1/recipients?offset=99999999999999999999"])
def test_offsets_beyond_the_database_range_are_bad_input_not_a_crash(signed_in, path):
    alice = signed_in("alice@example.com")
    _assert_error(alice.get(path), 422)
    assert alice.get("/api/email-jobs?offset=9223372036854775807").json()["items"] == []


def test_a_chunked_upload_without_a_length_is_cut_off_at_the_limit(signed_in, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "1")
    from mass_mailer.settings import reset_settings

    reset_settings()
    alice = signed_in("alice@example.com")

    def chunks():
        yield b'{"subject": "s", "html_content": "'
        for _ in range(8):
            yield b"x" * 1024 * 1024
        yield b'", "recipients": [{"email": "a@example.com"}]}'

    answer = alice.post("/api/email-jobs", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_error(answer, 413)


def test_nul_characters_are_bad_input_not_a_crash(signed_in):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    base = {"subject": "Hi", "html_content": "<p>Hi</p>", "recipients": [{"email": "a@example.com"}]}
    for change in ({"subject": "Hi\x00"}, {"html_content": "<p>\x00</p>"},
                   {"recipients": [{"email": "a@example.com", "name": "A\x00"}]},
                   {"recipients": [{"email": "a@example.com", "na\x00me": "A"}]}):
        _assert_error(alice.post("/api/email-jobs", json={**base, **change}), 400)
    for field in ("subject", "html_content", "email_column"):
        form = {"subject": "Hi", "html_content": "<p>Hi</p>", field: "x\x00y"}
        answer = alice.post("/api/email-jobs", data=form,
                            files={"recipients": ("r.csv", b"email\na@example.com\n", "text/csv")})
        _assert_error(answer, 400)
    _assert_error(alice.patch("/api/auth/me", json={"name": "A\x00"}), 422)
    _assert_error(alice.get("/api/email-jobs/1/recipients", params={"q": "a\x00"}), 422)
    assert alice.get("/api/email-jobs").json()["total"] == 0

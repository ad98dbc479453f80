"""What users send in: CSV quirks, refused input with clear answers, ownership, the CSV export."""

from __future__ import annotations

import csv
import io
import time

import pytest

from mass_mailer.errors import InvalidInput, Unprocessable
from mass_mailer.services.recipients_csv import parse_recipients_csv
from mass_mailer.services.templating import render_preview

HTML = "<p>Hi {{ name }}</p>"


def _post(client, data: bytes, **fields):
    form = {"subject": "Hello", "html_content": HTML, **fields}
    return client.post("/api/email-jobs", data=form, files={"recipients": ("r.csv", data, "text/csv")})


@pytest.mark.no_services
@pytest.mark.parametrize("raw", [
    "\ufeffE-mail;Name\na@example.com;Ann\nb@example.com;Bob\n".encode("utf-8"),
    "Email Address\tName\na@example.com\tAnn\nb@example.com\tBob\n".encode(),
    "email|name\na@example.com|Ann\nb@example.com|Bob\n".encode(),
])
def test_bom_semicolons_tabs_and_pipes_are_understood(raw):
    parsed = parse_recipients_csv(raw, None)
    assert [r["email"] for r in parsed.valid] == ["a@example.com", "b@example.com"]
    assert parsed.valid[0]["name"] == "Ann" and parsed.rejected == []


@pytest.mark.no_services
def test_cp1252_files_and_empty_cells():
    parsed = parse_recipients_csv("email,First Name\nz@example.com,Zoë\ny@example.com,\n".encode("cp1252"), None)
    assert parsed.valid == [{"email": "z@example.com", "first_name": "Zoë"}, {"email": "y@example.com"}]
    assert render_preview("Hi {{ first_name | default('there') }}", "<b>{{ first_name }}</b>",
                          parsed.valid[1]) == ("Hi there", "<b></b>")


@pytest.mark.no_services
def test_template_syntax_error_names_the_line():
    with pytest.raises(Unprocessable, match="line 3"):
        render_preview("ok", "<p>\n<b>\n{% if x %}never closed", {})


def test_refusals_have_fitting_statuses_and_clear_details(make_user, make_sender, api, monkeypatch):
    user = make_user()
    make_sender(user, "s@example.com")
    client = api(user)
    good = b"email,name\na@example.com,Ann\n"
    assert _post(client, b"name,phone\nAnn,1\n").status_code == 422
    assert "email column" in _post(client, b"name,phone\nAnn,1\n").json()["detail"]
    assert _post(client, good, subject="Hi\r\nBcc: x@evil.example").status_code == 400
    broken = _post(client, good, html_content="<p>\n{{ name ")
    assert broken.status_code == 422 and "line 2" in broken.json()["detail"]
    assert _post(client, b"email\nnot-an-address\n").status_code == 400
    assert _post(client, good, sender_ids="999").status_code == 404
    monkeypatch.setenv("MAX_UPLOAD_MB", "1")
    from mass_mailer.settings import reset_settings

    reset_settings()
    big = b"email,name\n" + b"a@example.com," + b"x" * (1024 * 1024 + 10) + b"\n"
    assert _post(client, big).status_code == 413


def test_no_usable_sender_is_a_conflict(make_user, api):
    answer = _post(api(make_user()), b"email\na@example.com\n")
    assert answer.status_code == 409 and "sender" in answer.json()["detail"].lower()


def test_another_users_job_is_not_found_and_export_is_escaped(make_user, make_sender, api):
    owner, other = make_user("o@example.com"), make_user("x@example.com")
    make_sender(owner, "s@example.com")
    client = api(owner)
    data = b'email,name\n"=cmd@example.com",A\nb@example.com,B\n'
    created = _post(client, data)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    for path in ("", "/status", "/recipients"):
        assert api(other).get(f"/api/email-jobs/{job_id}{path}").status_code == 404
    assert api(other).delete(f"/api/email-jobs/{job_id}").status_code == 404
    exported = client.get(f"/api/email-jobs/{job_id}/recipients?format=csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:2] == ["email", "status"]
    assert rows[1][0] == "'=cmd@example.com" and rows[2][0] == "b@example.com"
    page = client.get(f"/api/email-jobs/{job_id}/recipients", params={"q": "b@", "status": "pending"}).json()
    assert page["total"] == 1 and page["items"][0]["status"] == "pending"


def test_the_job_rate_limit_is_counted_before_the_body_is_read(make_user, make_sender, api, monkeypatch):
    """Past JOB_RATE_LIMIT even a large, unparsable body is answered 429 at once, not parsed first."""
    from mass_mailer.settings import reset_settings

    monkeypatch.setenv("JOB_RATE_LIMIT", "2/minute")
    reset_settings()
    user = make_user()
    make_sender(user, "news@example.com")
    client = api(user)
    assert _post(client, b"email\na@example.com\n").status_code == 201
    assert client.post("/api/email-jobs", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    refused = client.post("/api/email-jobs", content=b"{" * (8 * 1024 * 1024),
                          headers={"content-type": "application/json"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


@pytest.mark.no_services
def test_a_csv_wider_than_200_columns_is_refused_quickly():
    header = ",".join(["email", *(f"c{i}" for i in range(20_000))])
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="20,001 columns; at most 200"):
        parse_recipients_csv((header + "\n" + "a@example.com" + ",x" * 20_000 + "\n").encode(), None)
    assert time.monotonic() - started < 1


@pytest.mark.no_services
def test_two_hundred_columns_with_repeated_headers_are_read():
    header = ",".join(["email", *(["Same Name"] * 199)])
    parsed = parse_recipients_csv((header + "\na@example.com" + ",v" * 199 + "\n").encode(), None)
    assert len(parsed.columns) == len(set(parsed.columns)) == 200 and parsed.columns[1] == "same_name"
    assert parsed.valid[0]["same_name"] == "v" and len(parsed.valid[0]) == 200


def test_a_campaign_name_is_stored_and_listed(make_user, make_sender, api):
    user = make_user()
    make_sender(user, "news@example.com")
    client = api(user)
    by_json = client.post("/api/email-jobs", json={"name": "  Spring launch ", "subject": "Hi", "html_content": HTML,
                                                   "recipients": [{"email": "a@example.com"}]})
    by_form = _post(client, b"email\nb@example.com\n", name="Autumn news")
    unnamed = _post(client, b"email\nc@example.com\n")
    assert {by_json.status_code, by_form.status_code, unnamed.status_code} == {201}
    names = {job["id"]: job["name"] for job in client.get("/api/email-jobs").json()["items"]}
    assert names == {by_json.json()["id"]: "Spring launch", by_form.json()["id"]: "Autumn news",
                     unnamed.json()["id"]: None}
    refused = client.post("/api/email-jobs", json={"name": "two\nlines", "subject": "Hi", "html_content": HTML,
                                                   "recipients": [{"email": "d@example.com"}]})
    assert refused.status_code == 400 and "single line" in refused.json()["detail"]

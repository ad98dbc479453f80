"""Large CSV uploads: read in chunks and stored as they are read, with the same answers as a file read whole."""

from __future__ import annotations

import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import text

from mass_mailer.db import get_engine
from mass_mailer.services import recipients_csv
from mass_mailer.services.jobs import _Sample, sample_rows
from mass_mailer.services.recipients_csv import check_address, parse_recipients_csv, plain_address
from mass_mailer.settings import reset_settings

HEADER = "email,first_name,last_name,company\n"


def _post(client, data: bytes, **fields):
    form = {"subject": "Hi {{ first_name }}", "html_content": "<p>{{ company }}</p>", **fields}
    return client.post("/api/email-jobs", data=form, files={"recipients": ("r.csv", data, "text/csv")})


def _row(i: int) -> str:
    return f"user{i}@example{i % 7}.com,Name{i},Last {i},Company {i % 13}\n"


def _rows(count: int) -> list[str]:
    return [_row(i) for i in range(count)]


def _big_limits(monkeypatch, recipients: int = 300_000, upload_mb: int = 40) -> None:
    monkeypatch.setenv("MAX_RECIPIENTS", str(recipients))
    monkeypatch.setenv("MAX_UPLOAD_MB", str(upload_mb))
    monkeypatch.setenv("JOB_RATE_LIMIT", "1000/minute")
    reset_settings()


def _stored() -> tuple[int, int]:
    with get_engine().connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM email_jobs")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM email_recipients")).scalar_one())


def test_a_200k_row_upload_is_stored_exactly(make_user, make_sender, api, monkeypatch):
    _big_limits(monkeypatch)
    user = make_user()
    make_sender(user, "news@example.com")
    rows = _rows(200_000)
    rows[123_456] = 'User123456@Example6.COM,"Zoë \\ ""quoted""",,"Ünïcode, tab\t"\n'
    answer = _post(api(user), (HEADER + "".join(rows)).encode())
    assert answer.status_code == 201, answer.text[:500]
    created = answer.json()
    assert (created["total_recipients"], created["rejected"]) == (200_000, [])
    with get_engine().connect() as conn:
        job = conn.execute(text("SELECT total_recipients, status FROM email_jobs WHERE id = :j"),
                           {"j": created["id"]}).one()
        assert job.total_recipients == 200_000
        count, distinct = conn.execute(text("SELECT count(*), count(DISTINCT email) FROM email_recipients "
                                            "WHERE job_id = :j"), {"j": created["id"]}).one()
        assert count == distinct == 200_000
        first, last, odd = (conn.execute(text("SELECT email, data, status FROM email_recipients WHERE job_id = :j "
                                              "AND email = :e"), {"j": created["id"], "e": e}).one()
                            for e in ("user0@example0.com", _row(199_999).split(",")[0], "User123456@example6.com"))
    assert first.data == {"first_name": "Name0", "last_name": "Last 0", "company": "Company 0"}
    assert first.status == "pending"
    assert last.data == {"first_name": "Name199999", "last_name": "Last 199999", "company": f"Company {199_999 % 13}"}
    # The local part keeps its case, the domain is lower-cased; an empty cell is no field; quotes, a backslash, a
    # tab and non-ASCII text survive as they were.
    assert odd.data == {"first_name": 'Zoë \\ "quoted"', "company": "Ünïcode, tab\t"}


def test_bad_rows_deep_in_a_big_file_are_reported_with_their_row(make_user, make_sender, api, monkeypatch):
    _big_limits(monkeypatch)
    user = make_user()
    make_sender(user, "news@example.com")
    client = api(user)
    rows = _rows(160_000)
    rows[150_000] = "not-an-address,X,Y,Z\n"  # spreadsheet row 150,002 (the header is row 1)
    rows[159_998] = "USER3@example3.com,dup,,\n"  # a duplicate of row 5, across many chunks
    answer = _post(client, (HEADER + "".join(rows)).encode())
    assert answer.status_code == 201, answer.text[:500]
    created = answer.json()
    assert created["total_recipients"] == 159_998
    assert [(r["row"], r["email"]) for r in created["rejected"]] == [(150_002, "not-an-address"),
                                                                     (160_000, "USER3@example3.com")]
    assert created["rejected"][0]["reason"].startswith("invalid email address")
    assert created["rejected"][1]["reason"] == "duplicate"

    # A row the parser cannot read, far down: 400 naming it, and nothing stored (the rows before it included).
    before = _stored()
    rows = _rows(160_000)
    rows[150_000] = "a@example.com,1,2,3,4\n"
    refused = _post(client, (HEADER + "".join(rows)).encode())
    assert refused.status_code == 400, refused.text[:500]
    assert "row 150002 has 5 cells but the header row has 4" in refused.json()["detail"]
    unclosed = _post(client, (HEADER + "".join(_rows(150_000)) + 'b@example.com,"never closed,x,y\n').encode())
    assert unclosed.status_code == 400 and "quoted cell is never closed" in unclosed.json()["detail"]
    assert _stored() == before


def test_a_failure_after_storing_began_stores_nothing(make_user, make_sender, api, monkeypatch):
    _big_limits(monkeypatch, recipients=120_000)
    user = make_user()
    make_sender(user, "news@example.com")
    client = api(user)
    before = _stored()
    rows = _rows(120_000)
    rows[-1] = "last@example.com,99999,,\n"  # the last row is always one of the sampled recipients
    html = "{% for i in range(first_name|int) %}{% for j in range(first_name|int) %}x{% endfor %}{% endfor %}"
    heavy = _post(client, (HEADER + "".join(rows)).encode(), html_content=html)
    assert heavy.status_code == 422, heavy.text[:300]
    too_many = _post(client, (HEADER + "".join(_rows(120_001))).encode())
    assert too_many.status_code == 413 and "at most 120000" in too_many.json()["detail"]
    # An unreadable row after the limit is said first, as when the file was read whole before counting.
    ragged = _post(client, (HEADER + "".join(_rows(120_001)) + "x@example.com,1,2,3,4\n").encode())
    assert ragged.status_code == 400 and "row 120003" in ragged.json()["detail"]
    assert _stored() == before


def test_suppressed_addresses_deep_in_a_big_file_are_rejected(make_user, make_sender, api, monkeypatch):
    from sqlmodel import Session

    from mass_mailer.models import SuppressionReason
    from mass_mailer.services import suppressions

    _big_limits(monkeypatch)
    user = make_user()
    make_sender(user, "news@example.com")
    with Session(get_engine()) as session:
        suppressions.suppress(session=session, user_id=user.id, reason=SuppressionReason.IMPORTED,
                              emails=["user140000@example0.com", "user7@example0.com"])
    answer = _post(api(user), (HEADER + "".join(_rows(150_000))).encode())
    assert answer.status_code == 201, answer.text[:300]
    rejected = answer.json()["rejected"]
    assert [(r["row"], r["email"]) for r in rejected] == [(9, "user7@example0.com"),
                                                          (140_002, "user140000@example0.com")]
    assert all("suppressed" in r["reason"] for r in rejected)
    assert answer.json()["total_recipients"] == 149_998


def test_errors_keep_their_order_when_several_apply(make_user, make_sender, api):
    user = make_user()
    client = api(user)
    # No sender and no valid recipient: the recipients are said first, as before.
    nobody = _post(client, b"email\nnot-an-address\n")
    assert nobody.status_code == 400 and "No valid recipient" in nobody.json()["detail"]
    assert _post(client, b"email\na@example.com\n").status_code == 409
    # A bad campaign name and an unreadable file: the file first.
    broken = _post(client, b"email,x\na@example.com,1\nb@example.com,1,2,3\n", name="two\nlines")
    assert broken.status_code == 400 and "row 3 has 4 cells" in broken.json()["detail"]
    make_sender(user, "news@example.com")
    named = _post(client, b"email\na@example.com\n", name="two\nlines")
    assert named.status_code == 400 and "single line" in named.json()["detail"]
    assert _stored() == (0, 0)


@pytest.mark.no_services
def test_chunk_boundaries_change_nothing(monkeypatch):
    data = (HEADER + "".join(_rows(50)) + "user3@EXAMPLE3.com,dup,,\n\n" + "bad,,,\n" + ",,,\n").encode()
    whole = parse_recipients_csv(data)
    monkeypatch.setattr(recipients_csv, "CHUNK_ROWS", 7)
    monkeypatch.setattr(recipients_csv, "FIRST_CHUNK_ROWS", 3)
    chunked = parse_recipients_csv(data)
    assert chunked == whole
    assert len(whole.rows) == 53 and len(whole.valid) == 50
    assert whole.rejected == [{"row": 52, "email": "user3@EXAMPLE3.com", "reason": "duplicate"},
                              {"row": 53, "email": "bad", "reason": whole.rejected[1]["reason"]},
                              {"row": 54, "email": "", "reason": "missing email address"}]
    assert whole.valid[3] == {"email": "user3@example3.com", "first_name": "Name3", "last_name": "Last 3",
                              "company": "Company 3"}


@pytest.mark.no_services
@pytest.mark.parametrize("total", [1, 9, 10, 11, 20, 21, 40, 137, 1034, 3000, 250_000])
def test_the_streamed_sample_is_the_sample_of_the_list(total):
    rows = [{"email": f"r{i}@example.com", "i": i} for i in range(total)]
    sample = _Sample()

    class Chunk:  # the part of RecipientChunk the sample uses
        def __init__(self, part):
            self.emails, self.part = [r["email"] for r in part], part

        def recipient(self, position):
            return self.part[position]

    for start in range(0, total, 997):
        sample.add(Chunk(rows[start:start + 997]), start)
    picked = [r["i"] for r in sample.rows(total)]
    exact = [r["i"] for r in sample_rows(rows)]
    if total <= 10 + _Sample.SLOTS:
        assert picked == exact
    else:  # the first ten and the last exactly; the others near their places, in order
        assert picked[:10] == exact[:10] and picked[-1] == exact[-1] == total - 1
        assert picked == sorted(picked) and len(set(picked)) == 20
        assert all(abs(p - e) <= 2 * total / _Sample.SLOTS for p, e in zip(picked, exact))


def _addresses() -> list[str]:
    fixed = ["a@example.com", "A.B-c+d@Sub.Example.COM", "Info@Example.com", "POSTMASTER@x.org", "x@localhost",
             "x@a.test", "x@y.local", "x@host.invalid", "x@xn--bcher-kva.example", "x@ab--cd.com", "x@a-.com",
             "x@-a.com", "x@a..com", "x@.a.com", "x@a.com.", "x@a.c0m", "x@a.123", "x@a", "@a.com", "a@", "a.@b.com",
             ".a@b.com", "a..b@c.com", "a@b@c.com", "a b@c.com", "\"a\"@b.com", "a@[1.2.3.4]", "ü@b.com",
             "a@bü.com", "a@B.C", "a" * 64 + "@b.com", "a" * 65 + "@b.com", "a@" + "b" * 63 + ".com",
             "a@" + "b" * 64 + ".com", "a@" + ".".join(["b" * 60] * 4) + ".com", "a@" + "b." * 120 + "com",
             "x@sub.arpa", "x@arpa.com", "x@onion.onion", "x@a.b-c.de", "x@1.2.3.com", "x@a.b1", "Www@EXAMPLE.com",
             "a@b.c-d", "a@b.cd-", "a@b_c.com", "a@b.c_d", "{x}|y~@z.com", "a@B.Com", "a!#$%&'*+/=?^_`{|}~@b.com"]
    rng = random.Random(1234)
    alphabet = string.ascii_letters + string.digits + ".-_+@" + "--..@"
    fuzzed = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 30))) for _ in range(4000)]
    shaped = [f"{''.join(rng.choice('aB1.-_') for _ in range(rng.randint(1, 8)))}@"
              f"{''.join(rng.choice('aZ9.-') for _ in range(rng.randint(1, 16)))}" for _ in range(4000)]

    def label(chars: str, longest: int) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, longest)))

    likely = [f"{label('abcXYZ019.-_+', 66)}@"
              f"{'.'.join(label('abcXYZ019-', 64) for _ in range(rng.randint(1, 4)))}.{label('comORGx1-', 4)}"
              for _ in range(4000)]
    return fixed + fuzzed + shaped + likely


@pytest.mark.no_services
def test_the_fast_address_check_agrees_with_email_validator():
    """Every address the fast paths accept, email-validator accepts with the same normalised form; every address
    it refuses is refused."""
    accepted_fast = 0
    for raw in _addresses():
        try:
            expected = validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError:
            expected = None
        fast = plain_address(raw)
        assert fast is None or fast == expected, raw
        accepted_fast += fast is not None
        reason, email = check_address(raw)
        assert (None if reason else email) == expected, raw
    assert accepted_fast > 500  # the fast path is the usual one

"""What a recipient gets is right however fast it is made: addresses, the text part, the MIME message."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
from email_validator import EmailNotValidError, validate_email

from mass_mailer.gmail.mime import build_message, to_raw
from mass_mailer.services.recipients_csv import validate_recipients
from mass_mailer.services.templating import compile_for_sending, html_to_text

ADDRESSES = [
    "a@example.com", "A.B@Example.COM", "a..b@example.com", ".a@example.com", "a.@example.com", "a@localhost",
    "a@b.test", "a@example", "a@-x.com", "a@x-.com", "a@123.456", "a@[1.2.3.4]", '"q"@example.com',
    "a b@example.com", "x" * 64 + "@example.com", "x" * 65 + "@example.com", "a@" + "b" * 64 + ".com",
    "x" * 64 + "@" + ".".join(["b" * 63] * 3) + ".com", "ü@example.com", "a@münchen.de", "a@xn--mnchen-3ya.de",
    "Name <a@b.com>", "a@b@c.com", "a+tag@gmail.com", "a@example.com.", "a@.example.com", "a@exa_mple.com",
    "a@example.invalid", "a@x.onion", "!#$%&'*+/=?^_`{|}~-@example.com", "a@x.c", "a@x.123", "a@\u0430.com",
]


def _reference(raw: str) -> tuple[str | None, str]:
    try:
        return None, validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"invalid email address: {exc}", raw


@pytest.mark.no_services
def test_addresses_are_judged_exactly_as_email_validator_does():
    parsed = validate_recipients([{"email": raw} for raw in ADDRESSES], columns=["email"], email_column="email",
                                 first_row=1)
    outcome = {r["email"]: (None, r["email"]) for r in parsed.valid}
    outcome |= {r["email"]: (r["reason"], r["email"]) for r in parsed.rejected}
    expected = [_reference(raw) for raw in ADDRESSES]
    assert [outcome.get(normal if reason is None else raw) for raw, (reason, normal) in zip(ADDRESSES, expected)] \
        == expected


@pytest.mark.no_services
@pytest.mark.parametrize("html", [
    "<h1>Hi {{ first_name }}</h1><p>News for <b>{{ email }}</b> at <a href='https://x.com/?u={{ email }}'>x</a>.</p>",
    "<p>Dear {{ first_name | default('there') }}, news from {{ company }}.</p><p>Bye &amp; thanks</p>",
])
def test_the_text_part_made_once_per_job_reads_like_the_html(html):
    templates = compile_for_sending("Hello", html)
    assert templates.text is not None
    for row in ({"first_name": "Zoë", "email": "z@example.com", "company": "Café & Co"}, {"email": "a@b.co"}):
        _, rendered_html, text = templates.render_message(row)
        assert text == html_to_text(rendered_html)


@pytest.mark.no_services
@pytest.mark.parametrize("html", ["<p>{% if vip %}<b>VIP</b>{% endif %} {{ first_name }}</p>",
                                  "<ul><li>{{ first_name }}</li><li>{{ vip }}</li></ul>"])
def test_other_templates_get_their_text_part_message_by_message(html):
    templates = compile_for_sending("Hello", html)
    assert templates.text is None
    for row in ({"vip": "yes", "first_name": "Ann", "email": "a@b.co"}, {"email": "a@b.co"}):
        _, rendered_html, text = templates.render_message(row)
        assert text == html_to_text(rendered_html)


@pytest.mark.no_services
def test_the_mime_message_reads_back_with_its_encoded_headers_and_both_parts():
    raw = to_raw(build_message(sender_email="news@example.com", sender_name="Zoë Owner", to="ann@example.org",
                               subject="Café — " + "long subject " * 8, html="<p>Hi Zoë</p>", text="Hi Zoë\n"))
    message = email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=email.policy.default)
    assert message["From"] == "Zoë Owner <news@example.com>" and message["To"] == "ann@example.org"
    assert message["Subject"] == "Café — " + "long subject " * 8
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().splitlines() == ["Hi Zoë"]
    assert message.get_body(("html",)).get_content().strip() == "<p>Hi Zoë</p>"
    assert b"\r\n" in base64.urlsafe_b64decode(raw)


@pytest.mark.no_services
def test_a_line_break_cannot_smuggle_a_header_in():
    with pytest.raises(ValueError):
        build_message(sender_email="news@example.com", sender_name="Eve\r\nBcc: all@example.com",
                      to="ann@example.org", subject="Hi", html="<p>x</p>", text="x")

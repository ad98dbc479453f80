"""The MIME message for one recipient: From, To, encoded Subject, Date, Message-ID, List-Unsubscribe, text + HTML."""

from __future__ import annotations

import base64
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid

# The classic email API: several times cheaper per message than EmailMessage's header registry, which parses
# every header it is given. Both parts are UTF-8 in quoted-printable, readable when the text is mostly ASCII.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_CRLF = compat32.clone(linesep="\r\n")


def build_message(*, sender_email: str, sender_name: str | None, to: str, subject: str, html: str,
                  text: str, extra_headers: dict[str, str] | None = None) -> Message:
    """A multipart/alternative message with a text part and an HTML part (and `extra_headers`, such as
    List-Unsubscribe)."""
    message = MIMEMultipart("alternative")
    message["From"] = formataddr((_header(sender_name), sender_email)) if sender_name else _header(sender_email)
    message["To"] = _header(to)
    message["Subject"] = _header(subject) if subject.isascii() else Header(_header(subject), "utf-8")
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_email.rpartition("@")[2] or None)
    for name, value in (extra_headers or {}).items():
        message[name] = _OneLine(_header(value))
    message.attach(MIMEText(text, "plain", _UTF8))
    message.attach(MIMEText(html, "html", _UTF8))
    return message


class _OneLine:
    """A header value written on its header's line, unfolded (an ASCII value of at most a few hundred characters,
    such as List-Unsubscribe's URLs, which some readers take from the first line only)."""

    def __init__(self, value: str) -> None:
        if not value.isascii() or len(value) > 900:
            raise ValueError("A one-line header value must be ASCII and shorter than 900 characters")
        self.value = value

    def encode(self, linesep: str = "\r\n", maxlinelen: int | None = None) -> str:  # noqa: ARG002 - Header's API
        return self.value

    def __str__(self) -> str:
        return self.value


def to_raw(message: Message) -> str:
    """The message as the base64url string Gmail's messages.send takes in `raw`."""
    return base64.urlsafe_b64encode(message.as_bytes(policy=_CRLF)).decode("ascii")


def _header(value: str) -> str:
    # A line break in a header value would let it add headers of its own.
    if "\r" in value or "\n" in value:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    return value

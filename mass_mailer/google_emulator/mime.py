"""Reading the RFC 822 messages handed to messages.send."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import email
import email.policy
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses

from mass_mailer.google_emulator.accounts import is_email

_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# `addr@host` or `Display Name <addr@host>`: most headers, parsed without the slow general parser.
_SIMPLE_ADDRESS = re.compile(r'\s*(?:[^"<>,;:@]*<([^<>\s,;:"@]+@[^<>\s,;:"@]+)>|([^<>\s,;:"@]+@[^<>\s,;:"@]+))\s*')


class InvalidMessage(ValueError):
    """The message cannot be sent; the text is Gmail's error message."""


@dataclasses.dataclass(frozen=True)
class Envelope:
    """The headers a send needs, decoded."""

    sender: str | None
    to: list[str]
    recipients: list[str]  # To, Cc and Bcc
    subject: str
    message_id: str | None
    date: str | None


def decode_raw(raw: object) -> bytes:
    """Decode the base64url `raw` field (padding optional, as Gmail accepts)."""
    if not isinstance(raw, str) or not raw:
        raise InvalidMessage("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise InvalidMessage("Invalid value for ByteString: raw") from None


def decode_header_value(value: str | None) -> str:
    """Unfold a header and decode its RFC 2047 words."""
    if not value:
        return ""
    if "=?" in value:
        try:
            return str(make_header(decode_header(value)))
        except (LookupError, UnicodeDecodeError, HeaderParseError):
            pass  # an undecodable word stays as written, as mail clients show it
    return " ".join(value.split())


def _headers(raw: bytes) -> dict[str, str]:
    """The message's header block as {lower-case name: first value}, unfolded."""
    end = _END_OF_HEADERS.search(raw)
    head = _FOLD.sub("", raw[: end.start() if end else len(raw)].decode("utf-8", "replace"))
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _address_list(value: str) -> list[str]:
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple:
        return [simple.group(1) or simple.group(2)]
    return [addr for _, addr in getaddresses([decode_header_value(value)])]


def _addresses(value: str | None, header: str) -> list[str]:
    if value is None:
        return []
    found = [addr.strip().lower() for addr in _address_list(value) if addr.strip()]
    if not found or not all(is_email(addr) for addr in found):
        raise InvalidMessage(f"Invalid {header} header")
    return found


def read_envelope(raw: bytes) -> Envelope:
    """Parse only the headers (cheap); raise InvalidMessage as Gmail would."""
    headers = _headers(raw)
    to = _addresses(headers.get("to"), "To")
    recipients = to + _addresses(headers.get("cc"), "Cc") + _addresses(headers.get("bcc"), "Bcc")
    if not recipients:
        raise InvalidMessage("Recipient address required")
    senders = _address_list(headers["from"]) if headers.get("from") else []
    return Envelope(
        sender=senders[0].strip().lower() if senders and senders[0].strip() else None,
        to=to,
        recipients=recipients,
        subject=decode_header_value(headers.get("subject")),
        message_id=headers.get("message-id"),
        date=headers.get("date"),
    )


def message_details(raw: bytes) -> dict:
    """Decoded headers and the text and HTML bodies of a message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers: dict[str, str] = {}
    for name, value in message.items():
        headers.setdefault(name, str(value))
    return {
        "headers": headers,
        "text": _body_text(message, "plain"),
        "html": _body_text(message, "html"),
    }


def _body_text(message: email.message.EmailMessage, subtype: str) -> str | None:
    """The decoded text of the message's `text/<subtype>` body, if it has a readable one."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # unknown charset: show the bytes as UTF-8
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")

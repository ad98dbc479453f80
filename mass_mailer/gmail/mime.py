"""The MIME message for one recipient: From, To, encoded Subject, Date, Message-ID, text + HTML."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid


def build_message(*, sender_email: str, sender_name: str | None, to: str, subject: str, html: str,
                  text: str) -> EmailMessage:
    """A multipart/alternative message with a text part and an HTML part."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((sender_name, sender_email)) if sender_name else sender_email
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_email.rpartition("@")[2] or None)
    message["MIME-Version"] = "1.0"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def to_raw(message: EmailMessage) -> str:
    """The message as the base64url string Gmail's messages.send takes in `raw`."""
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")

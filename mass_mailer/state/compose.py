"""The new-email page: recipients from CSV, senders, the HTML template with a live preview, test, and start now
or at a chosen time."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from datetime import datetime

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.errors import DomainError, InvalidInput
from mass_mailer.models import SenderStatus
from mass_mailer import routes
from mass_mailer.services import jobs as jobs_service
from mass_mailer.services import senders as senders_service
from mass_mailer.services import suppressions, unsubscribe, uploads
from mass_mailer.services.recipients_csv import NoEmailColumn, ParsedRecipients, parse_recipients_csv
from mass_mailer.services.templating import render_preview, template_fields
from mass_mailer.settings import get_settings
from mass_mailer.state.auth import AuthState, signed_in_user
from mass_mailer.state.clock import BrowserClockState
from mass_mailer.state.controls import browser_time, read_upload
from mass_mailer.state.formatting import duration, when
from mass_mailer.state.threads import db_work, in_session, off_loop

SAMPLE_ROWS = 5
PREVIEW_ROWS = 50
REJECTED_SHOWN = 1000  # rows listed on the page; the count covers them all

DEFAULT_SUBJECT = "Hello {{ first_name | default('there') }}"
DEFAULT_HTML = """<div style="font-family: -apple-system, Segoe UI, Roboto, sans-serif; max-width: 560px;
            margin: 0 auto; padding: 24px; color: #1f2937;">
  <h1 style="font-size: 22px; margin: 0 0 12px;">Hi {{ first_name | default("there") }},</h1>
  <p style="line-height: 1.6;">Thanks for being with us. Here is what is new this month.</p>
  <p style="line-height: 1.6;">
    <a href="https://example.com" style="background: #4f46e5; color: white; padding: 10px 16px;
       border-radius: 8px; text-decoration: none;">Read more</a>
  </p>
  <p style="color: #6b7280; font-size: 13px;">You get this email as {{ email }}.
    <a href="{{ unsubscribe_url }}" style="color: #6b7280;">Unsubscribe</a></p>
</div>
"""


UNSUBSCRIBE_FIELD = "unsubscribe_url"  # given to every template at send time (services/sending.py)
UNSUBSCRIBE_FOOTER = (
    '<p style="font-size: 12px; color: #666; text-align: center; margin-top: 24px;">You received this email because '
    'you are on our mailing list. <a href="{{ unsubscribe_url }}" style="color: #666;">Unsubscribe</a></p>\n')
# {{ unsubscribe_url }}, or a link of the template's own whose address or text says unsubscribe.
_UNSUBSCRIBE_LINK = re.compile(r"\{\{\s*unsubscribe_url\b|<a\b[^>]*\bhref\s*=\s*[\"']?[^\"'\s>]*unsubscribe|"
                               r"<a\b[^>]*>[^<]*unsubscribe", re.IGNORECASE)


def has_unsubscribe_link(html: str) -> bool:
    """Whether the HTML offers a visible unsubscribe link (Gmail and Yahoo require one of bulk senders)."""
    return _UNSUBSCRIBE_LINK.search(html) is not None


def with_unsubscribe_footer(html: str) -> str:
    """The HTML with the standard unsubscribe footer at the end of its body."""
    end = html.lower().rfind("</body>")
    if end >= 0:
        return html[:end] + UNSUBSCRIBE_FOOTER + html[end:]
    return html.rstrip() + "\n" + UNSUBSCRIBE_FOOTER


@dataclasses.dataclass
class RejectedRow:
    row: int = 0
    email: str = ""
    reason: str = ""


@dataclasses.dataclass
class FieldRow:
    header: str = ""  # as in the file
    field: str = ""  # the merge field it becomes ("" for the address column)


@dataclasses.dataclass
class SenderOption:
    id: int = 0
    email: str = ""
    status: str = ""
    remaining_today: int = 0
    selected: bool = True


class ComposeState(rx.State):
    subject: str = DEFAULT_SUBJECT
    html: str = DEFAULT_HTML
    # What the subject field and the editor start from when they appear. They own their text while the page is
    # open and send every change here; the server never echoes a value back into them (a late echo would undo
    # keystrokes typed since).
    subject_seed: str = DEFAULT_SUBJECT
    html_seed: str = DEFAULT_HTML
    editor_version: int = 0  # a new value starts the editor afresh from html_seed (the footer was added)
    campaign_name: str = ""  # optional; jobs are listed by it
    campaign_name_seed: str = ""
    file_name: str = ""
    columns: list[str] = []
    email_column: str = ""
    needs_email_column: bool = False  # no column looked like the addresses: the user picks one
    field_map: list[FieldRow] = []
    sample: list[list[str]] = []
    valid_count: int = 0
    rejected: list[RejectedRow] = []  # the first REJECTED_SHOWN
    rejected_count: int = 0
    csv_error: str = ""
    preview_index: int = 0
    preview_email: str = ""
    preview_subject: str = ""
    preview_html: str = ""
    template_error: str = ""
    field_warnings: list[str] = []  # merge fields the template uses that no column provides
    senders: list[SenderOption] = []
    rate_per_minute: int = 60
    busy: bool = False
    schedule_later: bool = False
    send_at_local: str = ""  # the schedule field's value, in the browser's time zone ("2026-12-24T09:00")
    send_at_text: str = ""  # the chosen time in the UI's date format, once it is a valid one
    schedule_error: str = ""
    _upload_id: str = ""  # the uploaded file, kept in Redis for its user (services/uploads.py)
    _preview_rows: list[dict] = []

    @rx.var
    def merge_fields(self) -> list[str]:
        return ["email", *[c for c in self.columns if c != self.email_column], UNSUBSCRIBE_FIELD]

    @rx.var
    def lacks_unsubscribe_link(self) -> bool:
        return not has_unsubscribe_link(self.html)

    @rx.var
    def preview_count(self) -> int:
        return len(self._preview_rows)

    @rx.var
    def estimate(self) -> str:
        """How long the job takes at the configured pace, bounded by the chosen senders' remaining quota."""
        usable = [s for s in self.senders if s.selected and s.status != SenderStatus.REAUTH_REQUIRED]
        if not usable or not self.valid_count:
            return ""
        rate = self.rate_per_minute * len(usable)
        remaining = sum(s.remaining_today for s in usable if s.status == SenderStatus.ACTIVE)
        now = min(self.valid_count, remaining)
        text = f"About {duration(math.ceil(now / rate * 60))} at {rate}/min" if now else "No quota left today"
        if remaining < self.valid_count:
            text += f"; {self.valid_count - now} more wait for quota to free up (rolling 24 h)"
        return text

    @rx.var
    def start_blocker(self) -> str:
        """Why the job cannot start yet ("" when it can)."""
        if self.needs_email_column:
            return "Choose the column that holds the email addresses"
        if not self.valid_count:
            return "Upload a CSV file with at least one valid address"
        if self.template_error:
            return "Fix the template error first"
        if not self.subject.strip():
            return "Write a subject"
        if not self.senders:
            return "Connect a Gmail account to send through"
        if not any(s.selected for s in self.senders):
            return "Choose at least one sender"
        if self.schedule_later and not self.send_at_text:
            return "Choose a valid time to send at"
        return ""

    @rx.var
    def can_start(self) -> bool:
        return self.start_blocker == ""

    @rx.event
    async def load(self):
        """on_load: sign-in check, the user's senders, and a first preview."""
        user = await signed_in_user(self)
        if user is None:
            return
        self.rate_per_minute = get_settings().sender_rate_per_minute
        views = await in_session(senders_service.list_senders, user_id=user.id)
        chosen = {s.id for s in self.senders if s.selected} or {v.id for v in views}
        self.senders = [SenderOption(id=v.id, email=v.email, status=v.status, remaining_today=v.remaining_today,
                                     selected=v.id in chosen and v.status != SenderStatus.REAUTH_REQUIRED)
                        for v in views]
        await self._render_preview()

    @rx.event
    def toggle_sender(self, sender_id: int) -> None:
        self.senders = [dataclasses.replace(s, selected=not s.selected) if s.id == sender_id else s
                        for s in self.senders]

    @rx.event
    async def set_subject(self, value: str) -> None:
        self.subject = value
        await self._render_preview()

    @rx.event
    async def fields_shown(self) -> None:
        """The message fields just appeared (the page was opened): they start from the current text.

        Only then, never on a later load of the same page (a websocket reconnect re-runs on_load): seeding the
        fields while keystrokes are on their way would undo them.
        """
        if await signed_in_user(self) is not None:
            self.subject_seed, self.html_seed, self.campaign_name_seed = self.subject, self.html, self.campaign_name

    @rx.event
    async def set_campaign_name(self, value: str) -> None:
        if await signed_in_user(self) is not None and isinstance(value, str):
            self.campaign_name = value[:jobs_service.MAX_NAME_CHARS]

    @rx.event
    async def set_schedule_later(self, value: bool) -> None:
        if await signed_in_user(self) is not None and isinstance(value, bool):
            self.schedule_later = value

    @rx.event
    async def set_send_at_local(self, value: str) -> None:
        """The schedule field changed: checked at once, so a time in the past or too far ahead is said here."""
        if await signed_in_user(self) is None or not isinstance(value, str):
            return
        self.send_at_local = value[:40]
        try:
            self.send_at_text = when(await self._send_at())
            self.schedule_error = ""
        except DomainError as exc:
            self.send_at_text, self.schedule_error = "", exc.message if value else ""

    async def _send_at(self) -> datetime | None:
        """When the job starts: None for now, else the schedule field's time (InvalidInput when unusable)."""
        if not self.schedule_later:
            return None
        clock = await self.get_state(BrowserClockState)
        return jobs_service.check_send_at(browser_time(self.send_at_local, clock.utc_offset))

    @rx.event
    async def set_html(self, value: str) -> None:
        self.html = value
        await self._render_preview()

    @rx.event
    async def add_unsubscribe_footer(self) -> None:
        """Append the standard footer with {{ unsubscribe_url }} to the HTML, in the editor too.

        The editor owns its text, so it is started afresh from the new text (editor_version); every change typed
        before the click has reached the server first, since a tab's events are handled in order.
        """
        if await signed_in_user(self) is None or has_unsubscribe_link(self.html):
            return
        self.html = self.html_seed = with_unsubscribe_footer(self.html)
        self.editor_version += 1
        await self._render_preview()

    @rx.event
    async def step_preview(self, delta: int) -> None:
        if self._preview_rows and isinstance(delta, int):
            self.preview_index = (self.preview_index + delta) % len(self._preview_rows)
        await self._render_preview()

    async def _render_preview(self) -> None:
        row = self._preview_rows[self.preview_index] if self._preview_rows else {"email": "someone@example.com"}
        self.preview_email = row.get("email", "")
        auth = await self.get_state(AuthState)  # the guard has just validated the user of this event
        row = {**row, UNSUBSCRIBE_FIELD: unsubscribe.link(user_id=auth.user_id, job_id=unsubscribe.PREVIEW_JOB,
                                                          email=self.preview_email)}
        try:
            self.preview_subject, self.preview_html, fields = await off_loop(_preview, self.subject, self.html, row)
        except DomainError as exc:  # a half-typed template is normal while editing: say why in place of the preview
            self.template_error = exc.message
            return
        self.template_error = ""
        self.field_warnings = self._unknown_fields(fields)

    def _unknown_fields(self, used: set[str]) -> list[str]:
        if not self.columns or self.needs_email_column:
            return []  # no recipients yet: every field is unknown, and saying so helps nobody
        known = ["email", *(c for c in self.columns if c != self.email_column)]
        warnings = []
        for name in sorted(used - set(known) - {UNSUBSCRIBE_FIELD}):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {{{{ {close[0]} }}}}?" if close else f"the fields are {', '.join(known)}"
            warnings.append(f"{{{{ {name} }}}} is not a column of the file, so it will be empty: {hint}")
        return warnings

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]):
        """A CSV dropped or chosen: parse it and show columns, sample rows, valid count and rejected rows."""
        user = await signed_in_user(self)
        if user is None or not files:
            return
        self.file_name, data, too_large = await read_upload(files, "recipients.csv")
        if data is None:
            await self._clear_recipients(user.id, too_large)
            return
        await db_work(uploads.discard_upload, user_id=user.id, upload_id=self._upload_id)
        self._upload_id = await off_loop(uploads.store_upload, user_id=user.id, data=data)
        await self._parse(user.id, data, None)

    @rx.event
    async def choose_email_column(self, column: str) -> None:
        user = await signed_in_user(self)
        if user is None or not isinstance(column, str):
            return
        try:
            data = await db_work(uploads.load_upload, user_id=user.id, upload_id=self._upload_id)
        except DomainError as exc:
            self.file_name = ""
            await self._clear_recipients(user.id, exc.message)
            return
        await self._parse(user.id, data, column)

    @rx.event
    async def remove_file(self) -> None:
        user = await signed_in_user(self)
        if user is None:
            return
        self.file_name = ""
        self.campaign_name = self.campaign_name_seed = ""  # the next job is a new campaign
        await self._clear_recipients(user.id, "")

    async def _clear_recipients(self, user_id: int, error: str) -> None:
        await db_work(uploads.discard_upload, user_id=user_id, upload_id=self._upload_id)
        self._upload_id, self._preview_rows = "", []
        self.columns, self.sample, self.rejected, self.valid_count, self.email_column = [], [], [], 0, ""
        self.rejected_count, self.csv_error, self.preview_index = 0, error, 0
        self.needs_email_column, self.field_map, self.field_warnings = False, [], []
        await self._render_preview()

    async def _parse(self, user_id: int, data: bytes, email_column: str | None) -> None:
        try:
            parsed: ParsedRecipients = await off_loop(parse_recipients_csv, data, email_column)
        except NoEmailColumn as exc:  # keep the file: the user says which column holds the addresses
            self.csv_error, self.needs_email_column, self.columns, self.email_column = "", True, exc.columns, ""
            self.sample, self.valid_count, self.rejected, self.rejected_count = [], 0, [], 0
            self.field_map = [FieldRow(header=h, field=c) for h, c in zip(exc.headers or exc.columns, exc.columns)]
            self._preview_rows = []
            await self._render_preview()
            return
        except DomainError as exc:  # show why, and the drop zone again for a corrected file
            self.file_name = ""
            await self._clear_recipients(user_id, exc.message)
            return
        await off_loop(_drop_suppressed, parsed, user_id)  # job creation would reject them: say so now
        self.csv_error, self.needs_email_column = "", False
        self.columns, self.email_column = parsed.columns, parsed.email_column
        self.field_map = [FieldRow(header=h, field="" if c == parsed.email_column else c)
                          for h, c in zip(parsed.headers or parsed.columns, parsed.columns)]
        self.sample = [[str(row.get(c, "")) for c in parsed.columns] for row in parsed.rows[:SAMPLE_ROWS]]
        self.valid_count = len(parsed.valid)
        self.rejected_count = len(parsed.rejected)
        self.rejected = [RejectedRow(**r) for r in parsed.rejected[:REJECTED_SHOWN]]
        self._preview_rows = parsed.valid[:PREVIEW_ROWS]
        self.preview_index = 0
        await self._render_preview()

    def _chosen_sender_ids(self) -> list[int]:
        chosen = [s.id for s in self.senders if s.selected]
        if not chosen:
            raise InvalidInput("Choose at least one sender")
        return chosen

    @rx.event
    async def send_test(self):
        """One email to yourself, personalised with the previewed row, through the first chosen sender."""
        user = await signed_in_user(self)
        if user is None:
            return None
        row = self._preview_rows[self.preview_index] if self._preview_rows else {}
        await db_work(jobs_service.check_job_rate, user)
        created = await off_loop(_create_from_list, user=user, subject=f"[Test] {self.subject}",
                                 html_content=self.html, recipients=[{**row, "email": user.email}],
                                 sender_ids=self._chosen_sender_ids()[:1], is_test=True)
        return rx.toast.success(f"Test email to {user.email} queued (job #{created.id})")

    @rx.event
    async def start(self):
        """Create the job from the uploaded CSV and open its page."""
        user = await signed_in_user(self)
        if user is None:
            return None
        if not self._upload_id:
            raise InvalidInput("Upload a CSV file of recipients first")
        try:
            send_at = await self._send_at()
        except DomainError as exc:  # said beside the schedule field
            self.send_at_text, self.schedule_error = "", exc.message
            return None
        await db_work(jobs_service.check_job_rate, user)
        data = await db_work(uploads.load_upload, user_id=user.id, upload_id=self._upload_id)
        self.busy = True
        try:
            created = await off_loop(_create_from_csv, user=user, subject=self.subject, html_content=self.html,
                                     data=data, email_column=self.email_column or None, name=self.campaign_name,
                                     sender_ids=self._chosen_sender_ids(), send_at=send_at)
        finally:
            self.busy = False
        self.file_name = ""
        self.schedule_later, self.send_at_local, self.send_at_text, self.schedule_error = False, "", "", ""
        await self._clear_recipients(user.id, "")
        return rx.redirect(routes.job(created.id))  # the job page shows what goes out, or when it starts


def _create_from_csv(**fields) -> jobs_service.JobCreated:
    with session_scope() as session:
        return jobs_service.create_job_from_csv(session=session, **fields)


def _create_from_list(**fields) -> jobs_service.JobCreated:
    with session_scope() as session:
        return jobs_service.create_job_from_list(session=session, **fields)


def _drop_suppressed(parsed: ParsedRecipients, user_id: int) -> None:
    with session_scope() as session:
        found = suppressions.suppressed_among(session=session, user_id=user_id,
                                              emails=(row["email"] for row in parsed.valid))
    if found:
        parsed.drop(found)


def _preview(subject: str, html: str, row: dict) -> tuple[str, str, set[str]]:
    rendered_subject, rendered_html = render_preview(subject, html, row)
    return rendered_subject, rendered_html, template_fields(subject, html)

"""The suppressions page: the addresses no job of the user sends to; search, add, remove, import, export."""

from __future__ import annotations

import dataclasses

import reflex as rx

from mass_mailer.db import session_scope
from mass_mailer.errors import DomainError
from mass_mailer.services import suppressions as suppressions_service
from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.compose import RejectedRow
from mass_mailer.state.controls import read_upload
from mass_mailer.state.formatting import page_count, when
from mass_mailer.state.threads import db_work, in_session, off_loop

PAGE_SIZE = 25
REJECTED_SHOWN = 100  # rows of an import listed on the page; the count covers them all
REASONS = {"unsubscribed": "unsubscribed", "manual": "added by hand", "imported": "imported"}


@dataclasses.dataclass
class SuppressionRow:
    email: str = ""
    reason: str = ""  # as the page words it
    created_at: str = ""
    job_id: int = 0  # 0: not from a job


class SuppressionsState(rx.State):
    rows: list[SuppressionRow] = []
    total: int = 0  # matching the search
    search: str = ""
    page: int = 0
    add_error: str = ""
    form_key: int = 0  # a new value empties the add form after an address was added
    removing_email: str = ""
    import_file: str = ""  # the last imported file's name, "" before any import
    import_added: int = 0
    import_already: int = 0
    import_rejected: list[RejectedRow] = []
    import_rejected_count: int = 0
    import_error: str = ""

    @rx.var
    def page_count(self) -> int:
        return page_count(self.total, PAGE_SIZE)

    @rx.event
    async def load(self):
        user = await signed_in_user(self)
        if user is None:
            return
        self.page, self.search, self.add_error, self.removing_email = 0, "", "", ""
        self.import_file, self.import_error = "", ""
        await db_work(self._refresh, user.id)

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            found = suppressions_service.list_suppressions(session=session, user_id=user_id, q=self.search or None,
                                                           limit=PAGE_SIZE, offset=self.page * PAGE_SIZE)
        self.total = found.total
        self.rows = [SuppressionRow(email=s.email, reason=REASONS.get(s.reason, s.reason),
                                    created_at=when(s.created_at), job_id=s.job_id or 0) for s in found.items]

    @rx.event
    async def set_search(self, value: str):
        user = await signed_in_user(self)
        if user is None or not isinstance(value, str):
            return
        self.search, self.page = value.strip()[:320], 0
        await db_work(self._refresh, user.id)

    @rx.event
    async def turn_page(self, delta: int):
        user = await signed_in_user(self)
        if user is None or not isinstance(delta, int):
            return
        self.page = min(max(0, self.page + delta), self.page_count - 1)
        await db_work(self._refresh, user.id)

    @rx.event
    async def add_address(self, form_data: dict):
        """The add form was submitted: the address typed is suppressed, or the page says why it is not."""
        user = await signed_in_user(self)
        if user is None:
            return None
        email = form_data.get("email", "") if isinstance(form_data, dict) else ""
        if not isinstance(email, str) or not email.strip():
            self.add_error = "Enter an email address"
            return None
        try:
            added = await in_session(suppressions_service.add, user_id=user.id, email=email[:320])
        except DomainError as exc:
            self.add_error = exc.message
            return None
        self.add_error, self.form_key = "", self.form_key + 1
        await db_work(self._refresh, user.id)
        return rx.toast.success(f"{added.email} is suppressed: no job sends to it")

    @rx.event
    async def ask_remove(self, email: str):
        if await signed_in_user(self) is not None and isinstance(email, str):
            self.removing_email = email

    @rx.event
    async def cancel_remove(self):
        if await signed_in_user(self) is not None:
            self.removing_email = ""

    @rx.event
    async def confirm_remove(self):
        user = await signed_in_user(self)
        if user is None or not self.removing_email:
            return None
        email, self.removing_email = self.removing_email, ""
        try:
            await in_session(suppressions_service.remove, user_id=user.id, email=email)
        except DomainError as exc:  # another tab removed it first
            await db_work(self._refresh, user.id)
            return rx.toast.error(exc.message)
        await db_work(self._refresh, user.id)
        return rx.toast.success(f"{email} removed: later jobs send to it again")

    @rx.event
    async def handle_import(self, files: list[rx.UploadFile]):
        """A CSV dropped or chosen: every address in it is suppressed; the page says how many were new."""
        user = await signed_in_user(self)
        if user is None or not files:
            return
        self.import_file, data, too_large = await read_upload(files, "suppressions.csv")
        self.import_added = self.import_already = self.import_rejected_count = 0
        self.import_rejected, self.import_error = [], ""
        if data is None:
            self.import_error = too_large
            return
        if not data.strip():
            self.import_error = f"{self.import_file} is empty"
            return
        try:
            result = await off_loop(_import, user_id=user.id, data=data)
        except DomainError as exc:
            self.import_error = exc.message
            return
        self.import_added, self.import_already = result.added, result.already
        self.import_rejected_count = result.rejected_count
        self.import_rejected = [RejectedRow(**row) for row in result.rejected[:REJECTED_SHOWN]]
        self.page = 0
        await db_work(self._refresh, user.id)


def _import(*, user_id: int, data: bytes) -> suppressions_service.ImportResult:
    with session_scope() as session:
        return suppressions_service.import_csv(session=session, user_id=user_id, data=data)

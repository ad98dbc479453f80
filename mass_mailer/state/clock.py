"""The browser's time zone, for the pages that take a date and time: its UTC offset as the browser reports it."""

from __future__ import annotations

import reflex as rx

from mass_mailer.state.auth import signed_in_user
from mass_mailer.state.controls import UTC_OFFSET


class BrowserClockState(rx.State):
    utc_offset: str = ""  # "+01:00"; empty until the page's hidden clock has reported it

    @rx.var
    def zone_label(self) -> str:
        """'UTC+01:00', or '' while unknown."""
        return f"UTC{self.utc_offset}" if self.utc_offset else ""

    @rx.event
    async def set_utc_offset(self, value: str) -> None:
        """The page's hidden clock, when it appears and every minute after (a daylight-saving change)."""
        if await signed_in_user(self) is not None and isinstance(value, str) and UTC_OFFSET.fullmatch(value):
            self.utc_offset = value

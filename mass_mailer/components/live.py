"""A page that refreshes itself while something runs: a hidden clock whose every second is an event."""

import reflex as rx

from mass_mailer.state.clock import BrowserClockState


def ticker(when: rx.Var[bool], on_tick: rx.EventHandler, interval_ms: int = 1000) -> rx.Component:
    """While `when` holds, `on_tick` fires about every `interval_ms` (and once at once). The browser drives it:
    it stops when `when` turns false, when the tab leaves the page and when the tab closes."""
    return rx.cond(
        when,
        rx.box(rx.moment(interval=interval_ms, format="HH:mm:ss", on_change=on_tick), display="none",
               aria_hidden="true"),
        rx.fragment(),
    )


def live_dot(when: rx.Var[bool]) -> rx.Component:
    """A pulsing "Live" mark while `when` holds."""
    return rx.cond(when, rx.hstack(
        rx.box(width="8px", height="8px", border_radius="999px", background_color=rx.color("green", 9),
               class_name="live-dot"),
        rx.text("Live", size="1", color=rx.color("green", 11), weight="medium"),
        align="center", spacing="1", data_testid="live"), rx.fragment())


def browser_zone() -> rx.Component:
    """Reports the browser's UTC offset when the page appears, and every minute after, to BrowserClockState."""
    return rx.box(rx.moment(interval=60_000, format="Z", on_change=BrowserClockState.set_utc_offset),
                  display="none", aria_hidden="true")


def zone_note(**props) -> rx.Component:
    """'Times are in your time zone, UTC+01:00.'"""
    return rx.hstack(
        rx.icon("globe", size=13),
        rx.text("Times are in your time zone",
                rx.cond(BrowserClockState.zone_label != "", rx.text.span(", ", BrowserClockState.zone_label), ""),
                ".", size="1"),
        align="center", spacing="1", color=rx.color("gray", 11), data_testid="zone-note", **props)

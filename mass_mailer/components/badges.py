"""Status badges: one colour per status, the same everywhere."""

import reflex as rx

_COLORS = {
    "active": "green",
    "reauth_required": "orange",
    "quota_exhausted": "amber",
    "scheduled": "cyan",
    "queued": "gray",
    "in_progress": "blue",
    "paused": "amber",
    "completed": "green",
    "failed": "red",
    "cancelled": "gray",
    "pending": "gray",
    "sent": "green",
    "delivery_unknown": "orange",
    "suppressed": "purple",
    "admin": "violet",
    "user": "gray",
}

_LABELS = {
    "reauth_required": "reauth required",
    "quota_exhausted": "quota exhausted",
    "in_progress": "in progress",
    "delivery_unknown": "delivery unknown",
}


def status_badge(status: rx.Var[str] | str, **props) -> rx.Component:
    """A soft badge coloured after the status."""
    color = rx.match(status, *[(key, value) for key, value in _COLORS.items()], "gray")
    label = rx.match(status, *[(key, value) for key, value in _LABELS.items()], status)
    return rx.badge(label, color_scheme=color, variant="soft", radius="full", size="2", **props)

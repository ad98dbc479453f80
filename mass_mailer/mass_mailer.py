"""The Reflex app: the UI pages plus the REST API on the same port."""

import logging
import os

import reflex as rx

from mass_mailer import api
from mass_mailer.components.layout import PAGES
from mass_mailer.errors import DomainError
from mass_mailer.logging_config import SERVE_BUILT_FRONTEND_ENV
from mass_mailer.pages import (  # noqa: F401 - registers pages
    admin, compose, dashboard, job, outbox, profile, senders, suppressions)
from mass_mailer.state.guard import SessionGuard

log = logging.getLogger(__name__)

if os.environ.get(SERVE_BUILT_FRONTEND_ENV) == "1":
    # `web` runs the backend alone over a frontend built earlier: the backend serves its static files, as Reflex
    # does when it builds the frontend itself (Reflex's backend-only mode sets this off before importing the app).
    from reflex_base.environment import environment

    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)


def _backend_error(exception: Exception) -> rx.event.EventSpec:
    """An event handler failed: domain errors become their user-safe message, anything else a calm toast."""
    if isinstance(exception, DomainError):
        return rx.toast.error(exception.message)
    log.error("unexpected error in the UI", exc_info=exception)
    return rx.toast.error("Something went wrong on our side. Please try again.")


app = rx.App(
    api_transformer=api.create_app(),
    backend_exception_handler=_backend_error,
    stylesheets=["/styles.css"],
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
    # Top centre: messages never sit over the page's action bar or the sidebar's controls.
    toaster=rx.toast.provider(position="top-center", close_button=True),
    style={"font_family": "var(--default-font-family)"},
)
for render, options in PAGES:
    app.add_page(render, **options)
# First, before Reflex's hydrate step: the state a tab is hydrated with belongs to the user now signed in.
app.add_middleware(SessionGuard(), index=0)

"""The Reflex app: the UI pages plus the REST API on the same port."""

import reflex as rx

from mass_mailer import api
from mass_mailer.pages import index  # noqa: F401 - registers the pages

app = rx.App(api_transformer=api.create_app())

"""Contract checks reuse the browser-like client of the auth tests: one cookie jar per user."""

from auth.conftest import Browser, browser, emulator_config, signed_in  # noqa: F401 - fixtures for this folder

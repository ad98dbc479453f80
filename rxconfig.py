"""Reflex configuration.

No `db_url`: the app opens its own engine from DATABASE_URL (mass_mailer/db.py) and migrates with plain
alembic, so Reflex's own migration check stays off.
"""

import reflex as rx

config = rx.Config(
    app_name="mass_mailer",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(
        theme=rx.theme(appearance="inherit", accent_color="indigo", gray_color="slate", radius="large"))],
)

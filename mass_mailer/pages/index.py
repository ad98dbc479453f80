"""The landing page."""

import reflex as rx


@rx.page(route="/", title="mass_mailer")
def index() -> rx.Component:
    """What a visitor sees first."""
    return rx.center(
        rx.vstack(
            rx.heading("mass_mailer", size="8"),
            rx.text("Personalised mass email through your own Gmail accounts.", size="4", color_scheme="gray"),
            spacing="3",
            align="center",
        ),
        min_height="100vh",
    )

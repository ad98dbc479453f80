"""/profile: one's own name, picture and totals."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import page_header, section, stat_card
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.state.auth import AuthState
from mass_mailer.state.profile import ProfileState


@dashboard_page(routes.PROFILE, "Profile", on_load=ProfileState.load)
def profile_page() -> rx.Component:
    return rx.vstack(
        page_header("Profile", "How you appear in this installation."),
        section(
            "You",
            rx.hstack(
                rx.avatar(src=AuthState.picture, fallback=AuthState.initials, size="6", radius="full"),
                rx.vstack(
                    rx.text(AuthState.display_name, size="5", weight="bold"),
                    rx.text(AuthState.email, color_scheme="gray", size="2"),
                    rx.hstack(status_badge(AuthState.role),
                              rx.text("Member since ", ProfileState.member_since, size="1", color_scheme="gray"),
                              align="center"),
                    spacing="1",
                ),
                align="center",
                spacing="4",
            ),
            rx.vstack(
                rx.text("Display name", size="2", weight="medium"),
                rx.hstack(
                    rx.input(value=ProfileState.name_input, on_change=ProfileState.set_name_input, max_length=200,
                             width="100%", max_width="360px", data_testid="profile-name"),
                    rx.button("Save", on_click=ProfileState.save_name, data_testid="save-name"),
                    width="100%",
                ),
                spacing="2",
                width="100%",
            ),
        ),
        rx.grid(
            stat_card("Jobs", ProfileState.job_count, "mails"),
            stat_card("Emails sent", ProfileState.sent_total, "send"),
            stat_card("Failed", ProfileState.failed_total, "circle-x"),
            stat_card("Senders", ProfileState.sender_count, "at-sign"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )

"""/senders: connected Gmail accounts."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import callout, document_link, empty_state, page_header, progress_bar, stat_card
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.services.quota import WARMUP_RAMP
from mass_mailer.services.senders import MAX_DAILY_QUOTA
from mass_mailer.state.auth import AuthState
from mass_mailer.state.senders import SenderRow, SendersState


def _link_button(label: str, icon: str, href, **props) -> rx.Component:
    """A button that navigates the whole page (to an API route that redirects back)."""
    return rx.button(document_link(rx.icon(icon, size=15), label, href=href), as_child=True, **props)


def add_sender_dialog() -> rx.Component:
    """Connect a Gmail account: a plain form the browser submits itself, so what is typed is what is used."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("plus", size=16), "Add Gmail account", data_testid="add-sender")),
        rx.dialog.content(
            rx.dialog.title("Add a Gmail account"),
            rx.dialog.description("Google asks you to allow sending as that account. The app stores its tokens "
                                  "encrypted and never shows them.", size="2", color_scheme="gray"),
            rx.el.form(
                rx.vstack(
                    rx.cond(AuthState.demo_mode, rx.vstack(
                        rx.el.label("Gmail address", html_for="sender-address", class_name="rt-Text rt-r-size-2",
                                    font_weight="500"),
                        rx.input(id="sender-address", name="login_hint", type="email", required=True,
                                 placeholder="sender@example.com", width="100%", data_testid="sender-address"),
                        spacing="1", width="100%"), rx.fragment()),
                    rx.el.label("Daily quota (sends per rolling 24 h)", html_for="sender-quota",
                                class_name="rt-Text rt-r-size-2", font_weight="500"),
                    rx.input(id="sender-quota", name="daily_quota", type="number", min=1, max=MAX_DAILY_QUOTA,
                             step=1, required=True, default_value=SendersState.new_quota, width="100%",
                             data_testid="sender-quota"),
                    rx.text("Gmail allows about 500 a day for personal accounts, 2,000 for Workspace.", size="1",
                            color_scheme="gray"),
                    # Unticked sends warmup=0 (the browser leaves an unticked box out; the last value counts).
                    rx.el.input(type="hidden", name="warmup", value="0", read_only=True),
                    rx.text(rx.checkbox(name="warmup", value="1", default_checked=SendersState.new_warmup,
                                        data_testid="sender-warmup"),
                            " This is a new account (warm it up)", as_="label", size="2", weight="medium",
                            display="flex", align_items="center", gap="0.5em", margin_top="0.5em"),
                    rx.text(f"Its daily quota rises one step each day it sends ({', '.join(map(str, WARMUP_RAMP))}), "
                            "then is its own: a new account that sends a lot at once looks like spam to Gmail.",
                            size="1", color_scheme="gray"),
                    spacing="2",
                    margin_y="1em",
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                    rx.button(rx.icon("log-in", size=15), "Connect with Google", type="submit",
                              data_testid="connect-sender"),
                    justify="end",
                    spacing="2",
                ),
                action=routes.CONNECT_SENDER,
                method="get",
                on_submit=None,  # no Reflex handler: the browser submits the form itself (a full navigation)
            ),
            max_width="440px",
        ),
    )


def _sender_card(sender: SenderRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.center(rx.icon("mail", size=18), width="36px", height="36px", border_radius="10px",
                          background_color=rx.color("accent", 3), color=rx.color("accent", 11)),
                rx.vstack(
                    rx.text(sender.email, weight="medium", size="3", class_name="truncate"),
                    rx.hstack(
                        status_badge(sender.status),
                        rx.cond(sender.reset_at != "", rx.text("until ", sender.reset_at, size="1",
                                                               color_scheme="gray"), rx.fragment()),
                        align="center",
                        spacing="2",
                    ),
                    spacing="1",
                    min_width="0",
                ),
                rx.spacer(),
                rx.hstack(
                    rx.cond(sender.status == "reauth_required",
                            _link_button("Reconnect", "refresh-cw", sender.reconnect_url, size="2", color_scheme="orange"),
                            rx.fragment()),
                    rx.tooltip(rx.icon_button(rx.icon("gauge", size=16), variant="soft", color_scheme="gray",
                                              on_click=SendersState.start_edit(sender.id, sender.email,
                                                                               sender.daily_quota),
                                              aria_label="Edit quota"), content="Edit daily quota"),
                    rx.tooltip(rx.icon_button(rx.icon("trash-2", size=16), variant="soft", color_scheme="red",
                                              on_click=SendersState.ask_remove(sender.id, sender.email),
                                              aria_label="Remove"), content="Remove"),
                    spacing="2",
                ),
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.vstack(
                rx.hstack(
                    rx.text("Last 24 h", size="2", color_scheme="gray"),
                    rx.spacer(),
                    rx.text(sender.sent_24h, " / ", sender.effective_quota,
                            rx.cond(sender.effective_quota != sender.daily_quota,
                                    rx.text.span(" (own quota ", sender.daily_quota, ")", color_scheme="gray",
                                                 weight="regular"), ""),
                            size="2", weight="medium", data_testid="sender-quota-use"),
                    width="100%",
                ),
                progress_bar(sender.used_percent),
                spacing="2",
                width="100%",
            ),
            rx.hstack(
                rx.text(rx.text.strong(sender.remaining_today), " left today", size="1", color_scheme="gray"),
                rx.text(rx.text.strong(sender.sent_total), " sent in total", size="1", color_scheme="gray"),
                rx.text(rx.text.strong(sender.failed_total), " failed", size="1", color_scheme="gray"),
                spacing="4",
                wrap="wrap",
            ),
            rx.vstack(
                rx.text(rx.switch(checked=sender.warmup, on_change=lambda on: SendersState.set_warmup(sender.id, on),
                                  size="1", data_testid="warmup-switch"),
                        " New account: warm up", as_="label", size="2", weight="medium", display="flex",
                        align_items="center", gap="0.5em"),
                rx.cond(sender.warmup_note != "",
                        rx.text(rx.icon("trending-up", size=13, display="inline", vertical_align="middle"), " ",
                                sender.warmup_note,
                                rx.cond(sender.warmup_next_on != "", rx.text.span(
                                    " (", sender.warmup_next, " ",
                                    rx.text.span(sender.warmup_next_on, white_space="nowrap"), " if it sends today)"),
                                        ""),
                                size="1", color_scheme="gray", data_testid="warmup-note"),
                        rx.fragment()),
                spacing="1",
                width="100%",
            ),
            callout(sender.last_error, color="orange"),
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
        data_testid="sender-card",
    )


def _edit_quota_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Daily quota"),
            rx.dialog.description(SendersState.editing_email, size="2", color_scheme="gray"),
            rx.input(type="number", min=1, value=SendersState.editing_quota,
                     on_change=SendersState.set_editing_quota, margin_y="1em", data_testid="edit-quota"),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=SendersState.stop_edit),
                rx.button("Save", on_click=SendersState.save_quota, data_testid="save-quota"),
                justify="end",
                spacing="2",
            ),
            max_width="380px",
        ),
        open=SendersState.editing_id != 0,
        on_open_change=SendersState.stop_edit,
    )


def _remove_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove this sender?"),
            rx.alert_dialog.description(
                rx.text(rx.text.strong(SendersState.removing_email),
                        " stops sending at once and its Google access is revoked. Its sending history stays."),
                size="2",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=SendersState.cancel_remove)),
                rx.alert_dialog.action(rx.button("Remove", color_scheme="red", on_click=SendersState.confirm_remove,
                                                 data_testid="confirm-remove")),
                justify="end",
                spacing="2",
                margin_top="1em",
            ),
            max_width="420px",
        ),
        open=SendersState.removing_id != 0,
    )


@dashboard_page(routes.SENDERS, "Senders", on_load=SendersState.load)
def senders_page() -> rx.Component:
    return rx.vstack(
        page_header("Senders", "The Gmail accounts your emails go out through.", add_sender_dialog()),
        rx.grid(
            stat_card("Sent, last 24 h", SendersState.sent_24h, "send"),
            stat_card("Failed, last 24 h", SendersState.failed_24h, "circle-x"),
            stat_card("Quota left today", SendersState.remaining_today, "gauge"),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            SendersState.senders.length() > 0,
            rx.grid(rx.foreach(SendersState.senders, _sender_card), columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4", width="100%"),
            rx.card(empty_state("at-sign", "No Gmail account yet",
                                "Connect one or more Gmail accounts; a job spreads its recipients across them."),
                    width="100%"),
        ),
        _edit_quota_dialog(),
        _remove_dialog(),
        spacing="5",
        width="100%",
    )

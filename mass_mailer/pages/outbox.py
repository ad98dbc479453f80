"""/outbox (demo mode): delivered messages, each openable."""

import reflex as rx

from mass_mailer.components.cards import empty_state, page_header, sandboxed_html
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.state.outbox import OutboxRow, OutboxState


def _row(message: OutboxRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(message.recipient, weight="medium", size="2")),
        rx.table.cell(rx.text(message.subject, size="2")),
        rx.table.cell(rx.text(message.account, size="2", color_scheme="gray")),
        rx.table.cell(rx.text(message.received_at, size="1", color_scheme="gray")),
        on_click=OutboxState.open_message(message.id),
        cursor="pointer",
        _hover={"background_color": rx.color("gray", 2)},
        data_testid="outbox-row",
    )


def _message_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(OutboxState.open_subject),
            rx.dialog.description(rx.text("From ", rx.text.strong(OutboxState.open_from), " to ",
                                          rx.text.strong(OutboxState.open_to)), size="2", color_scheme="gray"),
            sandboxed_html(OutboxState.open_html, height="60vh", margin_top="1em"),
            rx.hstack(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")), justify="end",
                      margin_top="1em"),
            max_width="760px",
        ),
        open=OutboxState.open_id != "",
        on_open_change=OutboxState.close_message,
    )


@dashboard_page(routes.OUTBOX, "Outbox", on_load=OutboxState.load)
def outbox_page() -> rx.Component:
    return rx.vstack(
        page_header("Outbox", "Demo mode: what your senders delivered, as recipients would see it.",
                    rx.button(rx.icon("refresh-cw", size=15), "Refresh", variant="soft", on_click=OutboxState.load)),
        rx.card(
            rx.cond(
                OutboxState.messages.length() > 0,
                rx.box(rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "To", "Subject", "From", "Received (UTC)")])),
                    rx.table.body(rx.foreach(OutboxState.messages, _row)),
                    variant="ghost", width="100%"), overflow_x="auto", width="100%"),
                empty_state("inbox", "Nothing delivered yet", "Messages your senders send appear here."),
            ),
            size="3",
            width="100%",
        ),
        _message_dialog(),
        spacing="5",
        width="100%",
    )

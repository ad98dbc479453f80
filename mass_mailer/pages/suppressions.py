"""/suppressions: the addresses no job sends to (unsubscribed, added by hand, imported)."""

import reflex as rx

from mass_mailer.components.cards import (callout, csv_dropzone, document_link, empty_state, page_header, pager,
                                          section)
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.state.compose import RejectedRow
from mass_mailer.state.suppressions import SuppressionRow, SuppressionsState

UPLOAD_ID = "suppressions_csv"


def _export_button() -> rx.Component:
    return rx.button(document_link(rx.icon("download", size=15), "Export CSV", href=routes.SUPPRESSIONS_EXPORT,
                                   data_testid="export-suppressions"), as_child=True, variant="soft")


def _add_form() -> rx.Component:
    """A form the page reads when it is submitted: the address is exactly what is in the field."""
    return rx.el.form(
        rx.flex(
            rx.input(rx.input.slot(rx.icon("at-sign", size=14)), name="email", type="text", size="2",
                     placeholder="someone@example.com", flex="1", min_width="12em", auto_complete="off",
                     data_testid="suppress-address"),
            rx.button(rx.icon("ban", size=15), "Suppress", type="submit", data_testid="suppress-add"),
            gap="2",
            wrap="wrap",
            width="100%",
        ),
        callout(SuppressionsState.add_error, data_testid="suppress-error", margin_top="0.5em"),
        key=SuppressionsState.form_key,  # a new form, emptied, once an address was added
        on_submit=SuppressionsState.add_address,
        width="100%",
    )


def _rejected_row(row: RejectedRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.row, size="1")),
        rx.table.cell(rx.code(rx.cond(row.email != "", row.email, "—"), size="1", variant="ghost")),
        rx.table.cell(rx.text(row.reason, size="1", color_scheme="red")),
    )


def _import_result() -> rx.Component:
    return rx.cond(SuppressionsState.import_file != "", rx.vstack(
        rx.hstack(
            rx.icon("file-spreadsheet", size=16, color=rx.color("accent", 11)),
            rx.text(SuppressionsState.import_file, size="2", weight="medium", class_name="truncate"),
            align="center", min_width="0", width="100%"),
        callout(SuppressionsState.import_error, data_testid="import-error"),
        rx.cond(SuppressionsState.import_error == "", rx.flex(
            rx.badge(rx.icon("circle-check", size=13), SuppressionsState.import_added, " added", color_scheme="green",
                     size="2", radius="full", data_testid="import-added"),
            rx.badge(SuppressionsState.import_already, " already on the list", color_scheme="gray", size="2",
                     radius="full", data_testid="import-already"),
            rx.badge(rx.icon("circle-x", size=13), SuppressionsState.import_rejected_count, " rejected",
                     color_scheme=rx.cond(SuppressionsState.import_rejected_count > 0, "red", "gray"), size="2",
                     radius="full", data_testid="import-rejected"),
            gap="2", wrap="wrap"), rx.fragment()),
        rx.cond(SuppressionsState.import_rejected.length() > 0, rx.box(rx.table.root(
            rx.table.header(rx.table.row(rx.table.column_header_cell("Row"), rx.table.column_header_cell("Email"),
                                         rx.table.column_header_cell("Reason"))),
            rx.table.body(rx.foreach(SuppressionsState.import_rejected, _rejected_row)),
            size="1", variant="surface", width="100%"), max_height="180px", overflow_y="auto", width="100%"),
            rx.fragment()),
        spacing="2", width="100%", data_testid="import-result"), rx.fragment())


def _dropzone() -> rx.Component:
    return csv_dropzone(
        rx.vstack(
            rx.icon("upload", size=18, color=rx.color("accent", 11)),
            rx.text(rx.text.strong("Drop a CSV file here"), " or click to choose one", size="2", text_align="center"),
            rx.text("An 'email' column is found automatically; other columns are ignored.", size="1",
                    color_scheme="gray", text_align="center"),
            align="center",
            spacing="1",
        ),
        upload_id=UPLOAD_ID,
        on_drop=SuppressionsState.handle_import,
        padding="1em",
        data_testid="suppressions-upload",
    )


def _suppression_row(row: SuppressionRow) -> rx.Component:
    """One address: why and since when it is suppressed, and the job it unsubscribed from (a list, not a table, so a
    phone shows it whole)."""
    return rx.flex(
        rx.vstack(
            rx.text(row.email, size="2", weight="medium", overflow_wrap="anywhere"),
            rx.flex(
                rx.badge(row.reason, color_scheme=rx.match(row.reason, ("unsubscribed", "purple"),
                                                           ("imported", "blue"), "gray"),
                         variant="soft", radius="full", size="1"),
                rx.text("since ", row.created_at, size="1", color_scheme="gray", white_space="nowrap"),
                rx.cond(row.job_id > 0,
                        rx.link(rx.icon("mail", size=12), " from job #", row.job_id, href=f"/jobs/{row.job_id}",
                                size="1", white_space="nowrap", display="inline-flex", align_items="center",
                                gap="0.25em", data_testid="suppression-job"),
                        rx.fragment()),
                align="center", gap="2", wrap="wrap"),
            spacing="1",
            min_width="0",
            flex="1",
        ),
        rx.icon_button(rx.icon("trash-2", size=14), size="1", variant="soft", color_scheme="red",
                       on_click=SuppressionsState.ask_remove(row.email), aria_label="Remove",
                       title="Remove from the list", data_testid="remove-suppression"),
        align="center",
        gap="3",
        width="100%",
        padding_y="0.6em",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid="suppression-row",
    )


def _list() -> rx.Component:
    return section(
        "Suppressed addresses",
        rx.input(rx.input.slot(rx.icon("search", size=14)), placeholder="Search addresses",
                 value=SuppressionsState.search, on_change=SuppressionsState.set_search.debounce(300), size="2",
                 width="100%", max_width="22em", data_testid="suppression-search"),
        rx.cond(
            SuppressionsState.total > 0,
            rx.vstack(
                rx.vstack(rx.foreach(SuppressionsState.rows, _suppression_row), spacing="0", width="100%"),
                pager(SuppressionsState.page, SuppressionsState.page_count, SuppressionsState.turn_page,
                      summary=rx.text(SuppressionsState.total, " addresses")),
                spacing="3", width="100%"),
            rx.cond(SuppressionsState.search != "",
                    empty_state("search-x", "No address matches", "Nothing on your list contains this text."),
                    empty_state("shield-check", "No suppressed address yet",
                                "Recipients who unsubscribe appear here, and no job sends to them again. You can "
                                "add addresses by hand or import a CSV file too.")),
        ),
        actions=_export_button(),
    )


def _remove_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Take this address off the list?"),
            rx.alert_dialog.description(
                rx.text(rx.text.strong(SuppressionsState.removing_email),
                        " will receive your later jobs again. Remove it only if its owner asked for your mail."),
                size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=SuppressionsState.cancel_remove)),
                rx.alert_dialog.action(rx.button("Remove", color_scheme="red",
                                                 on_click=SuppressionsState.confirm_remove,
                                                 data_testid="confirm-remove-suppression")),
                justify="end", spacing="2", margin_top="1em"),
            max_width="420px",
        ),
        open=SuppressionsState.removing_email != "",
    )


@dashboard_page(routes.SUPPRESSIONS, "Suppressions", on_load=SuppressionsState.load)
def suppressions_page() -> rx.Component:
    return rx.vstack(
        page_header("Suppressions", "Addresses no job of yours sends to: people who unsubscribed, and any you add."),
        rx.grid(
            section("Add an address", rx.text("It is skipped by every job, including ones sending now.", size="2",
                                              color_scheme="gray"), _add_form()),
            section("Import a CSV file", _dropzone(), _import_result()),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            align="start",
            width="100%",
        ),
        _list(),
        _remove_dialog(),
        spacing="5",
        width="100%",
    )

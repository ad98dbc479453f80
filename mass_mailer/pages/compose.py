"""/new: compose an email, upload recipients, preview, test and start sending."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import callout, csv_dropzone, empty_state, page_header, sandboxed_html, section
from mass_mailer.components.editor import html_editor
from mass_mailer.components.layout import dashboard_page
from mass_mailer.components.live import browser_zone, zone_note
from mass_mailer import routes
from mass_mailer.state.compose import ComposeState, FieldRow, RejectedRow, SenderOption

UPLOAD_ID = "recipients_csv"


def _dropzone() -> rx.Component:
    return csv_dropzone(
        rx.vstack(
            rx.center(rx.icon("upload", size=20), width="40px", height="40px", border_radius="999px",
                      background_color=rx.color("accent", 3), color=rx.color("accent", 11)),
            rx.text(rx.text.strong("Drop a CSV file here"), " or click to choose one", size="2"),
            rx.text("One row per recipient, with a header row. An 'email' column is found automatically; other "
                    "columns become merge fields.", size="1", color_scheme="gray", text_align="center"),
            align="center",
            spacing="2",
        ),
        upload_id=UPLOAD_ID,
        on_drop=ComposeState.handle_upload,
        padding="1.5em",
        data_testid="csv-upload",
    )


def _rejected_row(row: RejectedRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.row, size="1")),
        rx.table.cell(rx.code(rx.cond(row.email != "", row.email, "—"), size="1", variant="ghost")),
        rx.table.cell(rx.text(row.reason, size="1", color_scheme="red")),
        data_testid="rejected-row",
    )


def _field_row(row: FieldRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.header, size="1", weight="medium", class_name="truncate", max_width="14em"),
        rx.icon("arrow-right", size=12, color=rx.color("gray", 9)),
        rx.cond(row.field != "", rx.code("{{ ", row.field, " }}", size="1", variant="ghost"),
                rx.badge("recipient address", size="1", color_scheme="green")),
        align="center", spacing="2", data_testid="field-map-row",
    )


def _field_map() -> rx.Component:
    """Which column becomes which merge field (and which one is the address)."""
    return rx.cond(ComposeState.field_map.length() > 0, rx.vstack(
        rx.text("Columns and merge fields", size="1", color_scheme="gray"),
        rx.flex(rx.foreach(ComposeState.field_map, _field_row), wrap="wrap", gap="1em", width="100%"),
        spacing="1", width="100%", data_testid="field-map"), rx.fragment())


def _recipients_summary() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("file-spreadsheet", size=18, color=rx.color("accent", 11)),
            rx.text(ComposeState.file_name, weight="medium", size="2", class_name="truncate"),
            rx.spacer(),
            rx.icon_button(rx.icon("x", size=14), variant="ghost", color_scheme="gray", size="1",
                           on_click=ComposeState.remove_file, aria_label="Remove file"),
            align="center",
            width="100%",
        ),
        rx.hstack(
            rx.badge(rx.icon("circle-check", size=13), ComposeState.valid_count, " valid", color_scheme="green",
                     size="2", radius="full", data_testid="valid-count"),
            rx.cond(ComposeState.rejected_count > 0,
                    rx.badge(rx.icon("circle-x", size=13), ComposeState.rejected_count, " rejected",
                             color_scheme="red", size="2", radius="full"),
                    rx.fragment()),
            rx.spacer(),
            rx.cond(ComposeState.columns.length() > 0, rx.hstack(
                rx.text("Email column", size="1", color_scheme="gray"),
                rx.select(ComposeState.columns, value=ComposeState.email_column, placeholder="Choose a column",
                          on_change=ComposeState.choose_email_column, size="1", data_testid="email-column"),
                align="center"), rx.fragment()),
            align="center",
            width="100%",
            wrap="wrap",
        ),
        rx.cond(ComposeState.needs_email_column,
                rx.callout("No column is named like an email address. Choose the column that holds the addresses "
                           "above.", icon="circle-help", color_scheme="amber", size="1", width="100%",
                           data_testid="choose-email-column"),
                rx.fragment()),
        _field_map(),
        rx.cond(ComposeState.sample.length() > 0, rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(rx.foreach(ComposeState.columns,
                                                        lambda c: rx.table.column_header_cell(c)))),
                rx.table.body(rx.foreach(ComposeState.sample, lambda cells: rx.table.row(
                    rx.foreach(cells, lambda cell: rx.table.cell(rx.text(cell, size="1", class_name="truncate",
                                                                         max_width="14em")))))),
                size="1", variant="surface", width="100%"),
            overflow_x="auto", width="100%"), rx.fragment()),
        rx.cond(ComposeState.rejected.length() > 0, rx.vstack(
            rx.text("Rejected rows — they will not be sent", size="2", weight="medium", color_scheme="red"),
            rx.cond(ComposeState.rejected_count > ComposeState.rejected.length(),
                    rx.text("Showing the first ", ComposeState.rejected.length(), " of ", ComposeState.rejected_count,
                            " rejected rows.", size="1", color_scheme="gray", data_testid="rejected-more"),
                    rx.fragment()),
            rx.box(rx.table.root(
                rx.table.header(rx.table.row(rx.table.column_header_cell("Row"),
                                             rx.table.column_header_cell("Email"),
                                             rx.table.column_header_cell("Reason"))),
                rx.table.body(rx.foreach(ComposeState.rejected, _rejected_row)),
                size="1", variant="surface", width="100%"), max_height="220px", overflow_y="auto", width="100%"),
            spacing="2", width="100%"), rx.fragment()),
        spacing="3",
        width="100%",
    )


def recipients_card() -> rx.Component:
    return section(
        "Recipients",
        callout(ComposeState.csv_error, data_testid="csv-error"),
        rx.cond(ComposeState.file_name != "", _recipients_summary(), _dropzone()),
    )


def _sender_option(sender: SenderOption) -> rx.Component:
    return rx.hstack(
        rx.checkbox(checked=sender.selected, on_change=lambda _: ComposeState.toggle_sender(sender.id),
                    disabled=sender.status == "reauth_required"),
        rx.text(sender.email, size="2", class_name="truncate", flex="1"),
        status_badge(sender.status),
        rx.text(sender.remaining_today, " left", size="1", color_scheme="gray", white_space="nowrap"),
        align="center",
        width="100%",
        padding="0.5em 0.75em",
        border_radius="8px",
        border=f"1px solid {rx.color('gray', 4)}",
    )


def senders_card() -> rx.Component:
    return section(
        "Send through",
        rx.cond(
            ComposeState.senders.length() > 0,
            rx.vstack(rx.foreach(ComposeState.senders, _sender_option), spacing="2", width="100%"),
            empty_state("at-sign", "No sender yet", "Connect a Gmail account to send through.",
                        rx.link(rx.button("Add Gmail account", variant="soft"), href=routes.SENDERS)),
        ),
        rx.cond(ComposeState.estimate != "",
                rx.hstack(rx.icon("clock", size=15), rx.text(ComposeState.estimate, size="2"),
                          color=rx.color("gray", 11), align="center", data_testid="estimate"),
                rx.fragment()),
    )


def _merge_field(name: str) -> rx.Component:
    return rx.tooltip(
        rx.badge("{{ ", name, " }}", variant="surface", radius="full", cursor="pointer",
                 on_click=[rx.set_clipboard("{{ " + name + " }}"), rx.toast.info("Copied — paste it in the editor")]),
        content="Click to copy",
    )


def _unsubscribe_warning() -> rx.Component:
    """Bulk mail needs a visible unsubscribe link: said, with a one-click fix, while the HTML has none."""
    return rx.cond(ComposeState.lacks_unsubscribe_link, rx.callout.root(
        rx.callout.icon(rx.icon("triangle-alert", size=16)),
        rx.flex(
            rx.callout.text(
                rx.text.strong("No unsubscribe link. "),
                "Gmail and Yahoo require bulk senders to show a visible unsubscribe link in every message; without "
                "one, more of your mail lands in spam. Add ", rx.code("{{ unsubscribe_url }}", size="1"),
                " as a link, or the standard footer."),
            rx.button(rx.icon("plus", size=14), "Add unsubscribe footer", size="1", color_scheme="amber",
                      on_click=ComposeState.add_unsubscribe_footer, data_testid="add-unsubscribe-footer"),
            direction="column", align="start", gap="2"),
        color_scheme="amber", size="1", width="100%", data_testid="unsubscribe-warning"), rx.fragment())


def message_card() -> rx.Component:
    return section(
        "Message",
        rx.vstack(
            rx.text("Campaign name ", rx.text.span("(optional: your jobs are listed by it)", color_scheme="gray"),
                    size="2", weight="medium"),
            rx.input(default_value=ComposeState.campaign_name_seed, key=ComposeState.campaign_name_seed,
                     on_change=ComposeState.set_campaign_name, max_length=200, size="2", width="100%",
                     placeholder="e.g. Spring launch invitation", data_testid="campaign-name"),
            spacing="1",
            width="100%",
        ),
        rx.vstack(
            rx.text("Subject", size="2", weight="medium"),
            # Uncontrolled: the field keeps what is typed and reports each change (see ComposeState.subject_seed).
            rx.input(default_value=ComposeState.subject_seed, key=ComposeState.subject_seed,
                     on_change=ComposeState.set_subject, size="3", width="100%",
                     placeholder="Subject — merge fields work here too", data_testid="subject"),
            spacing="1",
            width="100%",
        ),
        rx.grid(
            rx.vstack(
                rx.text("HTML", size="2", weight="medium"),
                # Started afresh (key) only when the page replaces the text, as "Add unsubscribe footer" does.
                rx.box(html_editor(ComposeState.html_seed, ComposeState.set_html, height="460px"),
                       key=ComposeState.editor_version, width="100%", data_testid="html-editor"),
                _unsubscribe_warning(),
                rx.hstack(rx.text("Merge fields:", size="1", color_scheme="gray"),
                          rx.foreach(ComposeState.merge_fields, _merge_field), wrap="wrap", spacing="2",
                          align="center"),
                rx.text("Jinja2 syntax: {{ field }}, {{ field | default(\"...\") }}, {% if field %}…{% endif %}.",
                        size="1", color_scheme="gray"),
                spacing="2",
                width="100%",
                min_width="0",
            ),
            rx.vstack(
                rx.hstack(
                    rx.text("Preview", size="2", weight="medium"),
                    rx.spacer(),
                    rx.cond(ComposeState.preview_count > 1, rx.hstack(
                        rx.icon_button(rx.icon("chevron-left", size=14), size="1", variant="soft",
                                       on_click=ComposeState.step_preview(-1), aria_label="Previous recipient"),
                        rx.text(ComposeState.preview_index + 1, " / ", ComposeState.preview_count, size="1"),
                        rx.icon_button(rx.icon("chevron-right", size=14), size="1", variant="soft",
                                       on_click=ComposeState.step_preview(1), aria_label="Next recipient"),
                        align="center"), rx.fragment()),
                    width="100%",
                    align="center",
                ),
                rx.box(
                    rx.text("To: ", rx.text.strong(ComposeState.preview_email), size="1", color_scheme="gray"),
                    rx.text("Subject: ", rx.text.strong(ComposeState.preview_subject), size="2",
                            data_testid="preview-subject"),
                    padding="0.6em 0.8em",
                    border_radius="8px",
                    background_color=rx.color("gray", 2),
                    border=f"1px solid {rx.color('gray', 4)}",
                    width="100%",
                ),
                rx.foreach(ComposeState.field_warnings, lambda warning: rx.callout(
                    warning, icon="circle-help", color_scheme="amber", size="1", width="100%",
                    data_testid="field-warning")),
                # A template that does not render shows why instead of a preview that no longer matches it.
                rx.cond(ComposeState.template_error != "",
                        rx.callout(ComposeState.template_error, icon="triangle-alert", color_scheme="red", size="1",
                                   width="100%", min_height="400px", data_testid="template-error"),
                        sandboxed_html(ComposeState.preview_html, height="400px", data_testid="preview-frame")),
                spacing="2",
                width="100%",
                min_width="0",
            ),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        on_mount=ComposeState.fields_shown,
    )


def schedule_control() -> rx.Component:
    """Start now, or at a time picked in the browser's time zone."""
    return rx.vstack(
        rx.text(rx.switch(checked=ComposeState.schedule_later, on_change=ComposeState.set_schedule_later,
                          size="1", data_testid="schedule-later"),
                " Schedule for later", as_="label", size="2", weight="medium",
                display="flex", align_items="center", gap="0.5em"),
        rx.cond(ComposeState.schedule_later, rx.vstack(
            rx.flex(
                # Uncontrolled: the field keeps what is picked and reports each change.
                rx.input(type="datetime-local", default_value=ComposeState.send_at_local,
                         on_change=ComposeState.set_send_at_local, size="2", data_testid="send-at-input"),
                rx.cond(ComposeState.send_at_text != "",
                        rx.text("Starts ", rx.text.strong(ComposeState.send_at_text), size="2",
                                data_testid="send-at-text"), rx.fragment()),
                align="center", gap="3", wrap="wrap"),
            zone_note(),
            callout(ComposeState.schedule_error, data_testid="schedule-error"),
            spacing="2", width="100%"), rx.fragment()),
        spacing="2",
        width="100%",
    )


def action_bar() -> rx.Component:
    return rx.card(
        schedule_control(),
        rx.separator(size="4", margin_y="0.75em"),
        rx.flex(
            rx.text(rx.cond(ComposeState.valid_count > 0,
                            rx.text(rx.text.strong(ComposeState.valid_count), " recipients ready"),
                            "Upload recipients to start"), size="2", color_scheme="gray"),
            rx.spacer(),
            rx.cond(ComposeState.start_blocker != "",
                    rx.text(rx.icon("info", size=13), " ", ComposeState.start_blocker, size="1", color_scheme="amber",
                            data_testid="start-blocker"),
                    rx.fragment()),
            rx.hstack(
                rx.button(rx.icon("flask-conical", size=15), "Send test to myself", variant="soft",
                          on_click=ComposeState.send_test, disabled=ComposeState.senders.length() == 0,
                          data_testid="send-test"),
                rx.button(rx.cond(ComposeState.schedule_later, rx.icon("calendar-clock", size=15),
                                  rx.icon("send", size=15)),
                          rx.cond(ComposeState.schedule_later, "Schedule", "Start sending"),
                          on_click=ComposeState.start, disabled=~ComposeState.can_start, loading=ComposeState.busy,
                          data_testid="start-sending"),
                spacing="2",
            ),
            align="center",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
    )


@dashboard_page(routes.COMPOSE, "New email", on_load=ComposeState.load)
def compose_page() -> rx.Component:
    return rx.vstack(
        page_header("New email", "Personalised for every recipient, sent through your Gmail accounts."),
        rx.grid(recipients_card(), senders_card(), columns=rx.breakpoints(initial="1", md="2"), spacing="4",
                width="100%"),
        message_card(),
        action_bar(),
        browser_zone(),
        spacing="5",
        width="100%",
    )

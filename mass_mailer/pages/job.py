"""/jobs/[job_id]: one job's live progress, chart, per-sender breakdown and recipients, and its controls."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import (document_link, empty_state, callout, page_header, pager, progress_bar,
                                          section, stat_card)
from mass_mailer.components.layout import dashboard_page
from mass_mailer.components.live import browser_zone, live_dot, ticker, zone_note
from mass_mailer import routes
from mass_mailer.state.job import STATUS_FILTERS, TICK_MS, JobState, RecipientLine, SenderLine

WAITING_REFRESH_MS = 3000  # a scheduled or paused job: the page notices it start (or resume elsewhere) within this
_FILTER_LABELS = {"delivery_unknown": "Delivery unknown"}


def progress_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                status_badge(JobState.status, data_testid="job-status"),
                live_dot(JobState.active),
                rx.spacer(),
                rx.text(JobState.percent, "%", size="6", weight="bold", data_testid="job-percent"),
                align="center",
                width="100%",
            ),
            progress_bar(JobState.percent),
            rx.cond(JobState.status == "scheduled", schedule_panel(), rx.fragment()),
            rx.cond(JobState.status == "paused",
                    rx.callout("Paused: nothing more is sent until you resume it.", icon="circle-pause",
                               color_scheme="amber", size="1", width="100%", data_testid="paused-note"),
                    rx.fragment()),
            callout(JobState.waiting_reason, icon="hourglass", color="amber"),
            callout(JobState.error_message),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def schedule_panel() -> rx.Component:
    """When a scheduled job starts (in UTC as everywhere, and in the browser's time zone), and a new time."""
    return rx.vstack(
        rx.callout(
            rx.text("Starts ", rx.text.strong(JobState.send_at, data_testid="send-at"), " — ",
                    rx.moment(date=JobState.send_at_iso, format="YYYY-MM-DD HH:mm:ss", local=True), " your time"),
            icon="calendar-clock", color_scheme="cyan", size="1", width="100%", data_testid="scheduled-note"),
        rx.flex(
            # Uncontrolled, started afresh for each start time (key): it keeps what is typed and reports changes.
            rx.input(type="datetime-local", default_value=JobState.reschedule_at, key=JobState.send_at_iso,
                     on_change=JobState.set_reschedule_at, size="2", data_testid="reschedule-at"),
            rx.button(rx.icon("calendar-sync", size=15), "Reschedule", variant="soft", on_click=JobState.reschedule,
                      disabled=JobState.reschedule_at == "", data_testid="reschedule"),
            align="center", gap="2", wrap="wrap",
        ),
        zone_note(),
        callout(JobState.reschedule_error, data_testid="reschedule-error"),
        spacing="2",
        width="100%",
    )


def _counter(test_id: str, *card_args, phone: str | rx.Var = "span 1", wide: bool = False) -> rx.Component:
    """One card of the counters: the outcomes three to a row (four with suppressed recipients) and the progress two
    to a row (two columns on a phone), every card of a row as tall as the tallest."""
    outcome = rx.cond(JobState.suppressed > 0, "span 3", "span 4")
    return rx.box(stat_card(*card_args, height="100%"), data_testid=test_id,
                  grid_column=rx.breakpoints(initial=phone, md="span 6" if wide else outcome))


def counters() -> rx.Component:
    return rx.grid(
        _counter("sent-count", "Sent", JobState.sent, "circle-check"),
        _counter("failed-count", "Failed", JobState.failed, "circle-x"),
        _counter("unknown-count", "Delivery unknown", JobState.delivery_unknown, "circle-help", "may have arrived"),
        rx.cond(JobState.suppressed > 0,
                _counter("suppressed-count", "Suppressed", JobState.suppressed, "ban", "on your suppression list"),
                rx.fragment()),
        # On a phone, pending fills the row that suppressed recipients would leave half empty.
        _counter("pending-count", "Pending", JobState.pending, "clock",
                 rx.text("of ", JobState.total, rx.cond(JobState.cancelled > 0,
                                                        rx.text.span(" · ", JobState.cancelled, " cancelled"), "")),
                 phone=rx.cond(JobState.suppressed > 0, "span 2", "span 1"), wide=True),
        _counter("rate-card", rx.cond(JobState.active, "Rate", "Average rate"),
                 rx.text(JobState.rate, rx.text.span(" /min", size="3", color_scheme="gray")), "gauge",
                 rx.cond(JobState.active,
                         rx.cond(JobState.eta != "", rx.text("about ", JobState.eta, " left"), ""),
                         rx.cond(JobState.took != "", rx.text("took ", JobState.took), "")),
                 phone="span 2", wide=True),
        columns=rx.breakpoints(initial="2", md="12"),
        spacing="4",
        width="100%",
    )


def rate_chart() -> rx.Component:
    return section(
        "Sends per minute",
        rx.cond(
            JobState.series.length() > 0,
            rx.recharts.bar_chart(
                rx.recharts.bar(data_key="sent", name="Sent", stack_id="sends", fill=rx.color("accent", 9),
                                is_animation_active=False),
                rx.recharts.bar(data_key="failed", name="Failed", stack_id="sends", fill=rx.color("red", 9),
                                is_animation_active=False),
                rx.recharts.x_axis(data_key="minute", tick_line=False, min_tick_gap=30, font_size=11),
                rx.recharts.y_axis(allow_decimals=False, width=40, font_size=11),
                rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False, stroke=rx.color("gray", 4)),
                rx.recharts.graphing_tooltip(),
                data=JobState.series,
                height=220,
                width="100%",
                bar_category_gap="10%",
                max_bar_size=48,
            ),
            rx.text(rx.cond(JobState.active, "Nothing sent yet: the first bars appear within seconds.",
                            "Nothing was sent."), size="2", color_scheme="gray"),
        ),
    )


def _sender_line(sender: SenderLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(sender.email, size="2")),
        rx.table.cell(rx.text(sender.sent, size="2", color=rx.color("green", 11))),
        rx.table.cell(rx.text(sender.failed, size="2", color=rx.color("red", 11))),
        rx.table.cell(rx.text(sender.delivery_unknown, size="2", color=rx.color("orange", 11))),
        data_testid="sender-line",
    )


def senders_breakdown() -> rx.Component:
    return section(
        "Per sender",
        rx.cond(JobState.senders.length() > 0,
                rx.table.root(
                    rx.table.header(rx.table.row(rx.table.column_header_cell("Sender"),
                                                 rx.table.column_header_cell("Sent"),
                                                 rx.table.column_header_cell("Failed"),
                                                 rx.table.column_header_cell("Delivery unknown"))),
                    rx.table.body(rx.foreach(JobState.senders, _sender_line)),
                    variant="ghost", size="1", width="100%"),
                rx.text("Nothing sent yet.", size="2", color_scheme="gray")),
    )


def _recipient_line(recipient: RecipientLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(recipient.email, size="2")),
        rx.table.cell(status_badge(recipient.status)),
        rx.table.cell(rx.text(recipient.sender, size="1", color_scheme="gray")),
        rx.table.cell(rx.text(recipient.sent_at, size="1", color_scheme="gray", white_space="nowrap")),
        rx.table.cell(rx.text(recipient.error, size="1", color_scheme="red")),
        align="center",
        data_testid="recipient-row",
    )


def recipients_table() -> rx.Component:
    return section(
        "Recipients",
        rx.flex(
            rx.box(rx.segmented_control.root(
                *[rx.segmented_control.item(_FILTER_LABELS.get(value, value.capitalize()), value=value)
                  for value in STATUS_FILTERS],
                value=JobState.status_filter,
                on_change=JobState.set_status_filter,
                size="1",
                min_width="max-content",
                data_testid="status-filter",
            ), overflow_x="auto", max_width="100%"),  # six choices: scrolled sideways on a phone
            rx.input(rx.input.slot(rx.icon("search", size=14)), placeholder="Search addresses",
                     value=JobState.search, on_change=JobState.set_search.debounce(300), size="2",
                     data_testid="recipient-search"),
            justify="between",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        rx.box(rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                "Email", "Status", "Sender", "Sent at", "Error")])),
            rx.table.body(rx.foreach(JobState.recipients, _recipient_line)),
            variant="ghost", size="1", width="100%"), overflow_x="auto", width="100%"),
        pager(JobState.page, JobState.page_count, JobState.turn_page,
              summary=rx.text(JobState.recipients_summary)),
    )


def cancel_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Cancel this job?"),
            rx.alert_dialog.description("Nothing more is sent; recipients not sent yet become cancelled. "
                                        "This cannot be undone.", size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep the job", variant="soft", color_scheme="gray",
                                                 on_click=JobState.keep_running)),
                rx.alert_dialog.action(rx.button("Cancel job", color_scheme="red", on_click=JobState.cancel,
                                                 data_testid="confirm-cancel")),
                justify="end", spacing="2", margin_top="1em"),
            max_width="420px",
        ),
        open=JobState.confirm_cancel,
    )


def retry_dialog() -> rx.Component:
    """Asked before a retry when some recipients' delivery is unknown: they are left out unless the user says so."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Retry the failed recipients?"),
            rx.alert_dialog.description(
                rx.text(rx.text.strong(JobState.delivery_unknown,
                                       rx.cond(JobState.delivery_unknown == 1, " recipient has", " recipients have")),
                        " an unknown delivery: the send began but its outcome never came back. Gmail may already "
                        "have delivered them, so they might receive the email twice if you include them."),
                rx.text("Recipients that failed for a temporary reason are retried either way; addresses Gmail "
                        "refused are not.", margin_top="0.5em"),
                size="2"),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=JobState.keep_as_is)),
                rx.spacer(),
                rx.alert_dialog.action(rx.button("Retry failed only", variant="soft", on_click=JobState.retry(False),
                                                 data_testid="retry-failed-only")),
                rx.alert_dialog.action(rx.button("Include unknown delivery", color_scheme="orange",
                                                 on_click=JobState.retry(True), data_testid="retry-include-unknown")),
                justify="end", gap="2", wrap="wrap", margin_top="1em"),
            max_width="480px",
        ),
        open=JobState.confirm_retry,
    )


def _actions() -> rx.Component:
    def shown(when, *button_args, **button_props) -> rx.Component:
        return rx.cond(when, rx.button(*button_args, **button_props), rx.fragment())

    return rx.hstack(
        rx.button(document_link(rx.icon("download", size=15), "Export CSV", href=JobState.export_url,
                                data_testid="export-csv"), as_child=True, variant="soft"),
        shown(JobState.active, rx.icon("circle-pause", size=15), "Pause", variant="soft", color_scheme="amber",
              on_click=JobState.pause, data_testid="pause-job"),
        shown(JobState.status == "paused", rx.icon("circle-play", size=15), "Resume", on_click=JobState.resume,
              data_testid="resume-job"),
        shown(JobState.status == "scheduled", rx.icon("play", size=15), "Start now", on_click=JobState.start_now,
              data_testid="start-now"),
        shown(JobState.retryable, rx.icon("rotate-ccw", size=15), "Retry failed", on_click=JobState.ask_retry,
              data_testid="retry-failed"),
        shown(JobState.unfinished, rx.icon("circle-stop", size=15), "Cancel", color_scheme="red", variant="soft",
              on_click=JobState.ask_cancel, data_testid="cancel-job"),
        spacing="2",
        wrap="wrap",
    )


@dashboard_page(routes.JOB, "Job", on_load=JobState.load)
def job_page() -> rx.Component:
    return rx.cond(
        JobState.found,
        rx.vstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("All jobs", size="2"), align="center"),
                    href=routes.DASHBOARD, color_scheme="gray"),
            page_header(JobState.subject, rx.text("Job #", JobState.job_id, " · created ", JobState.created_at),
                        _actions()),
            progress_card(),
            counters(),
            rx.grid(rate_chart(), senders_breakdown(), columns=rx.breakpoints(initial="1", lg="2"), spacing="4",
                    width="100%"),
            recipients_table(),
            cancel_dialog(),
            retry_dialog(),
            ticker(JobState.active, JobState.tick, TICK_MS),
            ticker(JobState.unfinished & ~JobState.active, JobState.tick, WAITING_REFRESH_MS),
            browser_zone(),
            spacing="5",
            width="100%",
        ),
        empty_state("search-x", "Job not found", "It does not exist or belongs to someone else.",
                    rx.link(rx.button("Back to the dashboard", variant="soft"), href=routes.DASHBOARD)),
    )

"""/: the dashboard."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import empty_state, page_header, pager, progress_bar, stat_card
from mass_mailer.components.layout import dashboard_page
from mass_mailer.components.live import live_dot, ticker
from mass_mailer import routes
from mass_mailer.state.dashboard import DashboardState, JobRow

REFRESH_MS = 2000
SCHEDULED_REFRESH_MS = 5000  # only scheduled jobs listed: the page notices one start within this
_KINDS = (("All", "all"), ("Campaigns", "campaign"), ("Tests", "test"))
_COLUMNS = ("Campaign", "Status", "Progress", "Sent / failed / cancelled / total", "Created", "")


def _cell(*children: rx.Component, name: str) -> rx.Component:
    """A cell; below 640 px the table reflows into one card per job and `name` says where each cell goes."""
    return rx.table.cell(*children, class_name=f"job-{name}")


def _counts(job: JobRow) -> rx.Component:
    """'30 / 2 / 5 / 37' under the table's column header; spelled out ('30 sent · 2 failed …') on a phone."""
    parts = ((job.sent, "sent", "green"), (job.failed, "failed", "red"), (job.cancelled, "cancelled", "gray"))
    return rx.text(
        rx.text.span(*[piece for value, _, color in parts
                       for piece in (rx.text.span(value, color=rx.color(color, 11)), " / ")], job.total,
                     class_name="counts-short"),
        rx.text.span(*[piece for value, label, color in parts
                       for piece in (rx.text.span(value, color=rx.color(color, 11)), f" {label} · ")],
                     job.total, " in all", class_name="counts-long"),
        rx.cond(job.delivery_unknown > 0,
                rx.text.span(" · ", rx.text.span(job.delivery_unknown, " delivery unknown", white_space="nowrap",
                                                 color=rx.color("orange", 11)), data_testid="job-unknown"), ""),
        rx.cond(job.suppressed > 0,
                rx.text.span(" · ", rx.text.span(job.suppressed, " suppressed", white_space="nowrap",
                                                 color=rx.color("purple", 11)), data_testid="job-suppressed"), ""),
        size="2", data_testid="job-counts")


def _status(job: JobRow) -> rx.Component:
    """The badge; a scheduled job says when it starts."""
    return rx.vstack(
        status_badge(job.status),
        rx.cond(job.status == "scheduled",
                rx.text("starts ", job.send_at, size="1", color_scheme="gray", white_space="nowrap",
                        data_testid="job-send-at"), rx.fragment()),
        spacing="1")


def _controls(job: JobRow) -> rx.Component:
    """Pause while it is queued or sending, resume while it is paused."""
    return rx.match(
        job.status,
        ("queued", "in_progress", rx.icon_button(
            rx.icon("pause", size=14), size="1", variant="soft", color_scheme="amber",
            on_click=DashboardState.pause(job.id), aria_label="Pause", title="Pause", data_testid="pause-row")),
        ("paused", rx.icon_button(
            rx.icon("play", size=14), size="1", variant="soft", on_click=DashboardState.resume(job.id),
            aria_label="Resume", title="Resume", data_testid="resume-row")),
        rx.fragment(),
    )


def _job_row(job: JobRow) -> rx.Component:
    return rx.table.row(
        _cell(rx.link(job.subject, href="/jobs/" + job.id.to_string(), weight="medium", size="2",
                      color_scheme="gray", high_contrast=True), name="subject"),
        _cell(_status(job), name="status"),
        _cell(rx.vstack(progress_bar(job.percent), rx.text(job.percent, "%", size="1", color_scheme="gray"),
                        spacing="1", min_width="120px"), name="progress"),
        _cell(_counts(job), name="counts"),
        _cell(rx.text(job.created_at, size="1", color_scheme="gray", white_space="nowrap"), name="created"),
        _cell(_controls(job), name="controls"),
        align="center",
        class_name="job-row",
        data_testid="job-row",
    )


def _kind_filter() -> rx.Component:
    return rx.segmented_control.root(
        *[rx.segmented_control.item(label, value=value) for label, value in _KINDS],
        value=DashboardState.kind, on_change=DashboardState.set_kind, size="1", data_testid="job-kind")


def _nothing_listed() -> rx.Component:
    return rx.cond(
        DashboardState.kind == "all",
        empty_state("mails", "No email sent yet", "Write an email, upload a CSV of recipients, and start.",
                    rx.link(rx.button(rx.icon("square-pen", size=15), "New email"), href=routes.COMPOSE)),
        empty_state("filter", rx.cond(DashboardState.kind == "test", "No test sends", "No campaigns"),
                    "Nothing of this kind yet."),
    )


def jobs_table() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Jobs", size="4", weight="medium"), live_dot(DashboardState.active_jobs > 0),
                      rx.spacer(), _kind_filter(), align="center", width="100%", wrap="wrap"),
            rx.cond(
                DashboardState.jobs.length() > 0,
                rx.vstack(
                    rx.box(rx.table.root(
                        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in _COLUMNS])),
                        rx.table.body(rx.foreach(DashboardState.jobs, _job_row)),
                        variant="ghost", width="100%", class_name="jobs-table"), overflow_x="auto", width="100%"),
                    rx.cond(DashboardState.page_count > 1,
                            pager(DashboardState.page, DashboardState.page_count, DashboardState.turn_page,
                                  back="Newer", forward="Older"), rx.fragment()),
                    width="100%",
                ),
                _nothing_listed(),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


@dashboard_page(routes.DASHBOARD, "Dashboard", on_load=DashboardState.load)
def dashboard_page_view() -> rx.Component:
    return rx.vstack(
        page_header("Dashboard", "Your mass emails and how they are going.",
                    rx.link(rx.button(rx.icon("square-pen", size=15), "New email"), href=routes.COMPOSE)),
        rx.grid(
            rx.box(stat_card("Sent, last 24 h", DashboardState.sent_24h, "send"), data_testid="stat-sent"),
            rx.box(stat_card("Active jobs", DashboardState.active_jobs, "activity"), data_testid="stat-active"),
            rx.box(stat_card("Cancelled, last 24 h", DashboardState.cancelled_24h, "circle-slash",
                             "recipients left unsent"), data_testid="stat-cancelled"),
            rx.box(stat_card("Quota left today", DashboardState.remaining_today, "gauge",
                             rx.text(DashboardState.sender_count, " senders")), data_testid="stat-quota"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        jobs_table(),
        ticker(DashboardState.active_jobs > 0, DashboardState.tick, REFRESH_MS),
        ticker((DashboardState.active_jobs == 0) & DashboardState.scheduled_listed, DashboardState.tick,
               SCHEDULED_REFRESH_MS),
        spacing="5",
        width="100%",
    )

"""/: the dashboard."""

import reflex as rx

from mass_mailer.components.badges import status_badge
from mass_mailer.components.cards import empty_state, page_header, progress_bar, stat_card
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.state.dashboard import DashboardState, JobRow


def _job_row(job: JobRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(job.subject, href="/jobs/" + job.id.to_string(), weight="medium", size="2",
                              color_scheme="gray", high_contrast=True)),
        rx.table.cell(status_badge(job.status)),
        rx.table.cell(rx.vstack(progress_bar(job.percent), rx.text(job.percent, "%", size="1", color_scheme="gray"),
                                spacing="1", min_width="120px")),
        rx.table.cell(rx.text(rx.text.span(job.sent, color=rx.color("green", 11)), " / ",
                              rx.text.span(job.failed, color=rx.color("red", 11)), " / ", job.total, size="2")),
        rx.table.cell(rx.text(job.created_at, size="1", color_scheme="gray", white_space="nowrap")),
        align="center",
        data_testid="job-row",
    )


def jobs_table() -> rx.Component:
    return rx.card(
        rx.cond(
            DashboardState.jobs.length() > 0,
            rx.vstack(
                rx.box(rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Subject", "Status", "Progress", "Sent / failed / total", "Created")])),
                    rx.table.body(rx.foreach(DashboardState.jobs, _job_row)),
                    variant="ghost", width="100%"), overflow_x="auto", width="100%"),
                rx.cond(DashboardState.page_count > 1, rx.hstack(
                    rx.button("Newer", variant="soft", size="1", on_click=DashboardState.turn_page(-1),
                              disabled=DashboardState.page == 0),
                    rx.text("Page ", DashboardState.page + 1, " of ", DashboardState.page_count, size="1"),
                    rx.button("Older", variant="soft", size="1", on_click=DashboardState.turn_page(1),
                              disabled=DashboardState.page + 1 >= DashboardState.page_count),
                    align="center", justify="end", width="100%"), rx.fragment()),
                width="100%",
            ),
            empty_state("mails", "No email sent yet", "Write an email, upload a CSV of recipients, and start.",
                        rx.link(rx.button(rx.icon("square-pen", size=15), "New email"), href=routes.COMPOSE)),
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
            stat_card("Sent, last 24 h", DashboardState.sent_24h, "send"),
            stat_card("Active jobs", DashboardState.active_jobs, "activity"),
            stat_card("Quota left today", DashboardState.remaining_today, "gauge",
                      rx.text(DashboardState.sender_count, " senders")),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        jobs_table(),
        spacing="5",
        width="100%",
    )

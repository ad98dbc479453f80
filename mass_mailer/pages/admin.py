"""/admin: users, roles and activation."""

import reflex as rx

from mass_mailer.components.cards import callout, page_header, section, stat_card
from mass_mailer.components.layout import dashboard_page
from mass_mailer import routes
from mass_mailer.state.admin import AdminState, UserRow
from mass_mailer.state.auth import AuthState


def _user_row(user: UserRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.text(rx.cond(user.name != "", user.name, user.email), weight="medium", size="2"),
            rx.text(user.email, size="1", color_scheme="gray"),
            spacing="0",
        )),
        rx.table.cell(
            rx.select(["user", "admin"], value=user.role, on_change=lambda role: AdminState.set_role(user.id, role),
                      size="1", variant="soft", color_scheme=rx.cond(user.role == "admin", "violet", "gray"),
                      disabled=user.id == AuthState.user_id),
        ),
        rx.table.cell(rx.hstack(
            rx.switch(checked=user.is_active, on_change=lambda on: AdminState.set_active(user.id, on), size="1",
                      disabled=user.id == AuthState.user_id),
            rx.text(rx.cond(user.is_active, "Active", "Deactivated"), size="1",
                    color_scheme=rx.cond(user.is_active, "green", "gray")),
            align="center",
        )),
        rx.table.cell(rx.text(user.job_count, size="2")),
        rx.table.cell(rx.text(user.sent_count, size="2")),
        rx.table.cell(rx.text(user.created_at, size="1", color_scheme="gray")),
        rx.table.cell(rx.text(user.last_login_at, size="1", color_scheme="gray")),
        align="center",
        data_testid="user-row",
    )


def _system_panel() -> rx.Component:
    """Processes alive, the queue, and the last hour's sends and errors (GET /api/system)."""
    return section(
        "System",
        rx.cond(AdminState.system_problem != "", callout(AdminState.system_problem, color="amber")),
        rx.grid(
            stat_card("Workers", AdminState.system_workers, "cpu", data_testid="system-workers"),
            stat_card("Scheduler", AdminState.system_scheduler, "clock", data_testid="system-scheduler"),
            stat_card("Queued batches", AdminState.system_queue, "layers", data_testid="system-queue"),
            stat_card("Sent, last hour", AdminState.system_sends, "send", data_testid="system-sends"),
            stat_card("Errors, last hour", AdminState.system_errors, "triangle-alert", data_testid="system-errors"),
            columns=rx.breakpoints(initial="2", sm="3", lg="5"),
            spacing="3",
            width="100%",
        ),
        actions=rx.button(rx.icon("refresh-cw", size=14), "Refresh", variant="soft", size="1",
                          on_click=AdminState.refresh_system, data_testid="system-refresh"),
    )


@dashboard_page(routes.ADMIN, "Admin", on_load=AdminState.load, admin_only=True)
def admin_page() -> rx.Component:
    return rx.vstack(
        page_header("Users", "Who can sign in and who administers this installation.",
                    rx.input(rx.input.slot(rx.icon("search", size=15)), placeholder="Search users",
                             value=AdminState.search, on_change=AdminState.set_search, width="240px")),
        rx.grid(
            stat_card("Users", AdminState.users.length(), "users"),
            columns=rx.breakpoints(initial="1", sm="3"),
            width="100%",
        ),
        _system_panel(),
        rx.card(
            rx.box(
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "User", "Role", "Status", "Jobs", "Sent", "Signed up", "Last sign-in")])),
                    rx.table.body(rx.foreach(AdminState.shown, _user_row)),
                    variant="ghost",
                    size="2",
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            rx.text("You cannot change your own role or deactivate yourself here; the last active admin always "
                    "stays an admin.", size="1", color_scheme="gray", margin_top="1em"),
            size="3",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )



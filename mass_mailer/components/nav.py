"""The sidebar (laptop) and the top bar with a menu (phone)."""

import reflex as rx

from mass_mailer.components.cards import document_link
from mass_mailer import routes
from mass_mailer.state.auth import AuthState

_ITEMS = [
    ("Dashboard", routes.DASHBOARD, "layout-dashboard"),
    ("New email", routes.COMPOSE, "square-pen"),
    ("Senders", routes.SENDERS, "at-sign"),
    ("Suppressions", routes.SUPPRESSIONS, "ban"),
]


def brand() -> rx.Component:
    return rx.hstack(
        rx.center(rx.icon("send", size=16, color="white"), width="28px", height="28px", border_radius="8px",
                  background=f"linear-gradient(135deg, {rx.color('accent', 9)}, {rx.color('iris', 10)})"),
        rx.text("mass_mailer", weight="bold", size="4", letter_spacing="-0.02em"),
        align="center",
        spacing="2",
    )


def _is_current(route: str) -> rx.Var[bool]:
    path = rx.State.router.page.path
    if route == routes.DASHBOARD:
        return (path == "/") | path.startswith("/jobs")
    return path.startswith(route)


def nav_item(label: str, route: str, icon: str) -> rx.Component:
    current = _is_current(route)
    return rx.link(
        rx.hstack(rx.icon(icon, size=17), rx.text(label, size="2", weight="medium"), align="center", spacing="3",
                  padding_x="0.75em", padding_y="0.5em", border_radius="8px", width="100%",
                  background_color=rx.cond(current, rx.color("accent", 3), "transparent"),
                  color=rx.cond(current, rx.color("accent", 11), rx.color("gray", 11)),
                  _hover={"background_color": rx.color("gray", 3), "color": rx.color("gray", 12)}),
        href=route,
        underline="none",
        width="100%",
        data_testid=f"nav-{label.lower().replace(' ', '-')}",
    )


def _nav_items() -> list[rx.Component]:
    return [
        *[nav_item(*item) for item in _ITEMS],
        rx.cond(AuthState.demo_mode, nav_item("Outbox", routes.OUTBOX, "inbox"), rx.fragment()),
        rx.cond(AuthState.is_admin, nav_item("Admin", routes.ADMIN, "shield"), rx.fragment()),
        nav_item("Profile", routes.PROFILE, "circle-user"),
    ]


def user_card() -> rx.Component:
    """The signed-in user with sign-out and the colour mode switch."""
    return rx.vstack(
        rx.hstack(
            rx.avatar(src=AuthState.picture, fallback=AuthState.initials, size="2", radius="full"),
            rx.vstack(
                rx.text(AuthState.display_name, size="2", weight="medium", trim="both", class_name="truncate"),
                rx.text(AuthState.email, size="1", color_scheme="gray", class_name="truncate"),
                spacing="1",
                min_width="0",
                flex="1",
            ),
            align="center",
            width="100%",
        ),
        rx.hstack(
            rx.color_mode.button(size="2", variant="soft", color_scheme="gray"),
            sign_out_button(),
            width="100%",
        ),
        spacing="3",
        width="100%",
        padding_top="1em",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def sign_out_button() -> rx.Component:
    return rx.button(
        document_link(rx.icon("log-out", size=15), "Sign out", href=routes.SIGN_OUT, data_testid="sign-out"),
        as_child=True, variant="soft", color_scheme="gray", size="2", flex="1",
    )


def sidebar() -> rx.Component:
    # The outer box spans the page height (border and background); the inner column stays in view.
    return rx.box(
        rx.vstack(
            rx.box(brand(), padding_x="0.5em", padding_bottom="1em"),
            rx.vstack(*_nav_items(), spacing="1", width="100%"),
            rx.spacer(),
            user_card(),
            height=rx.cond(AuthState.demo_mode, "calc(100vh - 36px)", "100vh"),  # room for the demo banner
            position="sticky",
            top="0",
            padding="1.25em 1em",
        ),
        width="240px",
        min_width="240px",
        border_right=f"1px solid {rx.color('gray', 4)}",
        background_color=rx.color("gray", 2),
        display=["none", "none", "block"],
    )


def top_bar() -> rx.Component:
    """Phone width: the brand and a menu with every page."""
    return rx.hstack(
        brand(),
        rx.spacer(),
        rx.color_mode.button(size="2", variant="ghost", color_scheme="gray"),
        rx.menu.root(
            rx.menu.trigger(rx.icon_button(rx.icon("menu", size=18), variant="soft", color_scheme="gray",
                                           aria_label="Menu")),
            rx.menu.content(
                *[rx.menu.item(label, on_click=rx.redirect(route)) for label, route, _ in _ITEMS],
                rx.cond(AuthState.demo_mode, rx.menu.item("Outbox", on_click=rx.redirect(routes.OUTBOX)),
                        rx.fragment()),
                rx.cond(AuthState.is_admin, rx.menu.item("Admin", on_click=rx.redirect(routes.ADMIN)),
                        rx.fragment()),
                rx.menu.item("Profile", on_click=rx.redirect(routes.PROFILE)),
                rx.menu.separator(),
                rx.menu.item(document_link("Sign out", href=routes.SIGN_OUT), as_child=True),
            ),
        ),
        align="center",
        width="100%",
        padding="0.75em 1em",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        background_color=rx.color("gray", 2),
        display=["flex", "flex", "none"],
        position="sticky",
        top="0",
        z_index="10",
    )

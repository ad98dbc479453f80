"""The page shell: demo banner, sign-in screen for visitors, sidebar and content for users."""

from collections.abc import Callable

import reflex as rx

from mass_mailer.components.cards import callout, empty_state
from mass_mailer import routes
from mass_mailer.components.nav import brand, sidebar, top_bar
from mass_mailer.state.auth import AuthState


def demo_banner() -> rx.Component:
    """Shown on every page in demo mode."""
    return rx.cond(
        AuthState.demo_mode,
        rx.hstack(
            rx.icon("flask-conical", size=15),
            rx.text(rx.text.strong("Demo mode"),
                    " — Google is emulated: anyone can sign in as any address, and mail goes to the built-in "
                    "outbox, never to the Internet.", size="2"),
            justify="center",
            align="center",
            width="100%",
            padding="0.45em 1em",
            min_height="36px",
            box_sizing="border-box",
            background_color=rx.color("amber", 4),
            color=rx.color("amber", 12),
            border_bottom=f"1px solid {rx.color('amber', 6)}",
            data_testid="demo-banner",
        ),
        rx.fragment(),
    )


def sign_in_screen() -> rx.Component:
    """What a signed-out visitor sees on any page.

    A plain HTML form that the browser submits itself: the address used is exactly what is in the field when
    the button is clicked or Enter pressed (no round trip to the server first), and the browser refuses an
    empty or malformed address before anything is sent (the server checks it again).
    """
    return rx.center(
        rx.card(
            rx.el.form(
                rx.vstack(
                    brand(),
                    rx.heading("Sign in", size="6", letter_spacing="-0.02em", margin_top="0.75em"),
                    rx.text("Send personalised mass email through your own Gmail accounts.", color_scheme="gray",
                            size="2"),
                    callout(AuthState.sign_in_error, data_testid="sign-in-error"),
                    rx.el.input(type="hidden", name="next", value=AuthState.next_path, read_only=True),
                    rx.cond(
                        AuthState.demo_mode,
                        rx.vstack(
                            rx.el.label("Email address", html_for="login-hint", class_name="rt-Text rt-r-size-2",
                                        font_weight="500"),
                            rx.input(id="login-hint", name="login_hint", type="email", required=True,
                                     placeholder="you@example.com", auto_complete="email", size="3", width="100%",
                                     data_testid="login-hint"),
                            rx.text("Demo mode: sign in as any address.", size="1", color_scheme="gray"),
                            spacing="1",
                            width="100%",
                            margin_top="0.5em",
                        ),
                        rx.fragment(),
                    ),
                    rx.button(rx.icon("log-in", size=16), "Sign in with Google", type="submit", size="3",
                              width="100%", margin_top="0.5em", data_testid="sign-in"),
                    spacing="3",
                    width="100%",
                ),
                action=routes.SIGN_IN,
                method="get",
                on_submit=None,  # no Reflex handler: the browser submits the form itself (a full navigation)
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="400px",
        ),
        min_height="80vh",
        padding="1em",
    )


def _loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), min_height="80vh")


def _forbidden() -> rx.Component:
    return empty_state("shield-alert", "Admins only", "This page is for administrators.")


def app_frame(content: rx.Component) -> rx.Component:
    return rx.flex(
        sidebar(),
        rx.box(
            top_bar(),
            rx.box(content, padding=["1em", "1.5em", "2em 2.5em"], max_width="1200px", margin_x="auto",
                   width="100%"),
            flex="1",
            min_width="0",
        ),
        width="100%",
        min_height="100vh",
    )


# The app's pages, added once by mass_mailer.py with `app.add_page` (Reflex re-applies `@rx.page` pages at every
# compile of a process, warning "Page ... is being redefined" each time).
PAGES: list[tuple[Callable[[], rx.Component], dict]] = []


def dashboard_page(route: str, title: str, on_load, admin_only: bool = False) -> Callable:
    """Register a page inside the shell; signed-out visitors get the sign-in screen, non-admins a notice."""

    def decorator(render: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            content = render()
            if admin_only:
                content = rx.cond(AuthState.is_admin, content, _forbidden())
            return rx.box(
                demo_banner(),
                rx.cond(AuthState.checked,
                        rx.cond(AuthState.signed_in, app_frame(content), sign_in_screen()),
                        _loading()),
                width="100%",
            )

        page.__name__ = render.__name__
        # Messages belong to the page that raised them: a new page starts without the last one's toasts.
        PAGES.append((page, {"route": route, "title": f"{title} · mass_mailer",
                             "on_load": [rx.toast.dismiss(), on_load]}))
        return page

    return decorator

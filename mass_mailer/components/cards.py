"""Cards, headers and empty states shared by the pages."""

import reflex as rx


def page_header(title: str | rx.Var, subtitle: str | rx.Component = "", *actions: rx.Component) -> rx.Component:
    """The title row of a page, with its actions on the right."""
    return rx.flex(
        rx.vstack(
            rx.heading(title, size="7", weight="bold", letter_spacing="-0.02em"),
            rx.text(subtitle, color_scheme="gray", size="2"),
            spacing="1",
        ),
        rx.hstack(*actions, spacing="2", wrap="wrap"),
        justify="between",
        align="end",
        wrap="wrap",
        gap="3",
        width="100%",
        margin_bottom="1.5em",
    )


def stat_card(label: str, value: rx.Var | str, icon: str, hint: rx.Var | str = "", **props) -> rx.Component:
    """One number with a label, an icon and an optional hint."""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray", weight="medium"),
                rx.text(value, size="7", weight="bold", letter_spacing="-0.02em"),
                rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray"), rx.fragment()),
                spacing="1",
            ),
            rx.spacer(),
            rx.box(rx.icon(icon, size=18), padding="0.5em", border_radius="10px",
                   background_color=rx.color("accent", 3), color=rx.color("accent", 11)),
            align="start",
            width="100%",
        ),
        size="2",
        width="100%",
        **props,
    )


def section(title: str, *children: rx.Component, actions: rx.Component | None = None, **props) -> rx.Component:
    """A titled card."""
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(title, size="4", weight="medium"), rx.spacer(), actions or rx.fragment(),
                      width="100%", align="center"),
            *children,
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
        **props,
    )


def empty_state(icon: str, title: str, text: str, *actions: rx.Component) -> rx.Component:
    """What a list shows when it has nothing yet."""
    return rx.center(
        rx.vstack(
            rx.box(rx.icon(icon, size=22), padding="0.75em", border_radius="999px",
                   background_color=rx.color("accent", 3), color=rx.color("accent", 11)),
            rx.text(title, weight="medium", size="3"),
            rx.text(text, color_scheme="gray", size="2", text_align="center", max_width="28em"),
            *actions,
            align="center",
            spacing="2",
        ),
        padding_y="2.5em",
        width="100%",
    )


def progress_bar(percent: rx.Var, **props) -> rx.Component:
    """A progress bar fed with 0-100."""
    return rx.progress(value=percent.to(int), max=100, size="2", radius="full", width="100%", **props)


def sandboxed_html(html: rx.Var | str, **props) -> rx.Component:
    """Rendered email HTML in an iframe that may not run scripts, submit forms or reach the page."""
    return rx.el.iframe(
        src_doc=html,
        sandbox="",
        title="Email preview",
        width="100%",
        style={"border": f"1px solid {rx.color('gray', 5)}", "border_radius": "10px", "background": "white",
               **props.pop("style", {})},
        **props,
    )


def document_link(*children, href, **props) -> rx.Component:
    """A link the browser follows itself (API routes that set cookies and redirect), not the client router."""
    return rx.el.a(*children, href=href, reload_document=True, **props)


def callout(message: rx.Var, *, color: str = "red", icon: str = "triangle-alert", **props) -> rx.Component:
    """A message box shown only while `message` is not empty."""
    return rx.cond(message != "", rx.callout(message, icon=icon, color_scheme=color, size="1", width="100%",
                                             **props), rx.fragment())


def pager(page: rx.Var[int], page_count: rx.Var[int], turn: rx.EventHandler, *, summary: rx.Component | str = "",
          back: str = "Previous", forward: str = "Next", **props) -> rx.Component:
    """Previous / "page x of n" / next under a list; `turn` receives -1 or 1."""
    return rx.hstack(
        rx.text(summary, size="1", color_scheme="gray"),
        rx.spacer(),
        rx.button(back, variant="soft", size="1", on_click=turn(-1), disabled=page == 0),
        rx.text("Page ", page + 1, " of ", page_count, size="1", white_space="nowrap"),
        rx.button(forward, variant="soft", size="1", on_click=turn(1), disabled=page + 1 >= page_count),
        align="center",
        width="100%",
        **props,
    )


def csv_dropzone(*children: rx.Component, upload_id: str, on_drop, padding: str = "1.5em", **props) -> rx.Component:
    """A drop zone for one CSV file (or a tab- or comma-separated text file)."""
    return rx.upload(
        *children,
        id=upload_id,
        multiple=False,
        max_files=1,
        accept={"text/csv": [".csv"], "text/plain": [".txt", ".tsv"]},
        on_drop=on_drop,
        border=f"1.5px dashed {rx.color('gray', 7)}",
        border_radius="12px",
        padding=padding,
        width="100%",
        cursor="pointer",
        _hover={"border_color": rx.color("accent", 8), "background_color": rx.color("accent", 2)},
        **props,
    )

"""An HTML code editor: CodeMirror 6 from npm, bundled at build time (nothing loads from a CDN)."""

import reflex as rx
from reflex.vars import VarData
from reflex_base.utils.imports import ImportVar

_LANG_HTML = "@codemirror/lang-html@6.4.12"
_VIEW = "@codemirror/view@6.43.15"


def _html_extensions() -> rx.Var:
    """HTML highlighting and soft-wrapped lines, imported from the bundled CodeMirror packages.

    Nothing is typed for the user (no closing tags or brackets added): what is in the editor is what was typed.
    """
    return rx.Var(
        "[html({autoCloseTags: false}), EditorView.lineWrapping]",
        _var_data=VarData(imports={_LANG_HTML: [ImportVar(tag="html")], _VIEW: [ImportVar(tag="EditorView")]}),
    )


class CodeMirror(rx.Component):
    """@uiw/react-codemirror."""

    library = "@uiw/react-codemirror@4.25.12"
    tag = "CodeMirror"
    is_default = True
    lib_dependencies: list[str] = [
        _LANG_HTML,
        "@codemirror/state@6.7.6",
        _VIEW,
        "@codemirror/theme-one-dark@6.1.3",
        "codemirror@6.0.2",
        "@babel/runtime@7.28.4",
    ]

    value: rx.Var[str]
    height: rx.Var[str]
    theme: rx.Var[str]
    extensions: rx.Var[list]
    basic_setup: rx.Var[dict]
    placeholder: rx.Var[str]

    on_change: rx.EventHandler[lambda value, view_update: [value]]


def html_editor(value: rx.Var[str], on_change, **props) -> rx.Component:
    """The editor for an email's HTML, themed after the colour mode.

    `value` is what the editor starts from, not a mirror of the server's copy: CodeMirror replaces its text
    whenever `value` changes, so binding it to a var that every keystroke updates would let a late answer undo
    newer keystrokes. Pass a var that changes only when the text must be replaced (page load, a new draft).
    """
    return rx.box(
        CodeMirror.create(
            value=value,
            on_change=on_change,
            extensions=_html_extensions(),
            theme=rx.color_mode_cond(light="light", dark="dark"),
            height=props.pop("height", "420px"),
            basic_setup={"foldGutter": False, "highlightActiveLine": True, "closeBrackets": False,
                         "autocompletion": False},
        ),
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="10px",
        overflow="hidden",
        width="100%",
        font_size="13px",
        **props,
    )

"""Personalised subject, HTML and text part: Jinja2 sandboxed templates, compiled once per job."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import html2text
from jinja2 import TemplateSyntaxError, Undefined, meta
from jinja2.exceptions import SecurityError, TemplateError

from mass_mailer.errors import InvalidInput, Unprocessable
from mass_mailer.services.template_limits import MAX_TEMPLATE_CHARS, LimitedSandbox, TemplateTooHeavy, render_bounded

__all__ = ["CompiledTemplates", "TemplateTooHeavy", "check_subject", "compile_for_sending", "compile_templates",
           "html_to_text", "render_preview", "template_fields"]


@lru_cache
def _environment(autoescape: bool) -> LimitedSandbox:
    # Unknown fields render empty (Undefined), so a missing column never stops a send.
    return LimitedSandbox(autoescape=autoescape, undefined=Undefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class CompiledTemplates:
    """The subject (plain text) and HTML (autoescaped) templates of one job, and its text part's when known."""

    subject: Any
    html: Any
    text: Any = None  # the HTML converted to text once (see `compile_for_sending`); None: convert each message

    def render(self, data: dict[str, Any]) -> tuple[str, str]:
        """Subject and HTML for one recipient; line breaks in the subject become spaces."""
        try:
            subject = render_bounded(self.subject, data)
            html = render_bounded(self.html, data)
        except (SecurityError, TemplateError) as exc:
            raise Unprocessable(f"The template cannot be rendered: {exc}") from None
        return " ".join(subject.splitlines()).strip(), html

    def render_message(self, data: dict[str, Any]) -> tuple[str, str, str]:
        """Subject, HTML and text part for one recipient."""
        subject, html = self.render(data)
        if self.text is None:
            return subject, html, html_to_text(html)
        try:
            return subject, html, render_bounded(self.text, data)
        except (SecurityError, TemplateError) as exc:
            raise Unprocessable(f"The template cannot be rendered: {exc}") from None


def check_subject(subject: str) -> None:
    """Refuse a subject that would inject headers."""
    if "\r" in subject or "\n" in subject:
        raise InvalidInput("The subject must be a single line (no CR or LF)")
    if not subject.strip():
        raise InvalidInput("The subject is empty")


def compile_templates(subject: str, html: str) -> CompiledTemplates:
    """Compile both templates; a syntax error is an Unprocessable naming the template and line."""
    return CompiledTemplates(_compile(subject, "subject", autoescape=False),
                             _compile(html, "html_content", autoescape=True))


def compile_for_sending(subject: str, html: str) -> CompiledTemplates:
    """The job's templates with a text-part template, when converting the HTML template once is safe.

    html2text costs milliseconds per message; for a template made of HTML and `{{ ... }}` values only, its text
    conversion is the same template in text form. It is used when it renders exactly like the per-message
    conversion for probe recipients (with every value, and with only the address); other templates, and any
    with `{% ... %}` logic, are converted message by message.
    """
    templates = compile_templates(subject, html)
    if "{%" in html:
        return templates
    try:
        text = _environment(False).from_string(html_to_text(html))
        names = sorted(meta.find_undeclared_variables(_environment(True).parse(html)) | {"email"})
        values = {name: f"probe{i}value" for i, name in enumerate(names)}
        for probe in (values, {"email": values["email"]}):  # with every value, and with only the address
            if render_bounded(text, probe) != html_to_text(render_bounded(templates.html, probe)):
                return templates
    except (SecurityError, TemplateError, TemplateTooHeavy):
        return templates
    return CompiledTemplates(templates.subject, templates.html, text)


def _compile(source: str, name: str, *, autoescape: bool) -> Any:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateTooHeavy(f"The {_LABELS[name]} is longer than {MAX_TEMPLATE_CHARS:,} characters")
    try:
        return _environment(autoescape).from_string(source)
    except TemplateSyntaxError as exc:
        raise Unprocessable(f"Template syntax error in the {_LABELS[name]} at line {exc.lineno}: {exc.message}"
                            ) from None


_LABELS = {"subject": "subject", "html_content": "HTML"}


def template_fields(subject: str, html: str) -> set[str]:
    """The merge fields the templates read (names they use that they do not define themselves)."""
    fields: set[str] = set()
    for source, autoescape in ((subject, False), (html, True)):
        try:
            fields |= meta.find_undeclared_variables(_environment(autoescape).parse(source))
        except TemplateError:
            continue  # a syntax error is reported by the render
    return fields - set(_environment(True).globals)


def render_preview(subject: str, html: str, row: dict[str, Any]) -> tuple[str, str]:
    """The subject and HTML one recipient would get (for previews before a job is created)."""
    return compile_templates(subject, html).render(row)


def html_to_text(html: str) -> str:
    """The text/plain alternative of an HTML body."""
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    return converter.handle(html)

"""A Jinja2 sandbox with limits: no template can render for long, grow large or hold the process.

Jinja's own sandbox stops attribute tricks and caps `range`, but not nested loops, repeated strings or
output size: `{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}` would run for
hours. Every render here runs under a `RenderBudget`:

- every loop iteration, call, filter and intercepted operator costs one operation (`MAX_OPERATIONS`);
- the wall clock is checked every few operations (`RENDER_SECONDS`);
- the rendered text may not pass `MAX_RENDERED_CHARS`, and the strings built along the way may not add up
  to more than `MAX_PRODUCED_CHARS`; a single `*`, `+`, `%`, `**`, filter or method call that would build a
  larger value is refused before it is computed;
- constructs that capture output out of sight of the output counter (`{% macro %}`, `{% call %}`,
  `{% filter %}` blocks and `{% set x %}...{% endset %}`) are refused when the template is compiled.

A limit reached raises `TemplateTooHeavy`, a user-safe 422.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

from mass_mailer.errors import Unprocessable

MAX_TEMPLATE_CHARS = 1_000_000  # the HTML template as typed
MAX_RENDERED_CHARS = 2_000_000  # one message's subject or HTML as rendered (Gmail's limit is 25 MB)
MAX_PRODUCED_CHARS = 16_000_000  # every string a render builds along the way, added up
MAX_OPERATIONS = 100_000  # loop iterations, calls, filters and operators per render
RENDER_SECONDS = 2.0
_CLOCK_EVERY = 64  # operations between two looks at the clock
_WIDE_FORMAT = re.compile(r"\d{7,}")  # a printf/format width or precision of a million or more
_CAPTURING = (nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock)


class TemplateTooHeavy(Unprocessable):
    """A template that needs more time, operations or space than one message may take."""


class RenderBudget:
    """What one render may still spend."""

    __slots__ = ("operations", "produced", "deadline")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.operations = 0
        self.produced = 0
        self.deadline = time.monotonic() + seconds

    def tick(self) -> None:
        self.operations += 1
        if self.operations > MAX_OPERATIONS:
            raise TemplateTooHeavy(f"The template is too complex: more than {MAX_OPERATIONS:,} loop steps "
                                   "and operations for one message")
        if self.operations % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise TemplateTooHeavy(f"The template takes too long to render (over {RENDER_SECONDS:g} s per message)")

    def produce(self, value: Any) -> Any:
        size = _size(value)
        if size:
            _check_size(size)
            self.produced += size
            if self.produced > MAX_PRODUCED_CHARS:
                raise TemplateTooHeavy("The template builds too much text for one message")
        return value


_budget: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar("render_budget", default=None)


def _current() -> RenderBudget:
    budget = _budget.get()
    if budget is None:  # a template object used outside `render_bounded`: give it a budget of its own
        budget = RenderBudget()
        _budget.set(budget)
    return budget


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _check_size(size: int) -> None:
    if size > MAX_RENDERED_CHARS:
        raise TemplateTooHeavy(f"The template builds a value larger than {MAX_RENDERED_CHARS:,} characters")


def _check_numbers(args: Iterable[Any]) -> None:
    """Refuse numbers that would size a result beyond the limit (widths, counts) before anything is built."""
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_RENDERED_CHARS:
            raise TemplateTooHeavy(f"The template uses a number larger than {MAX_RENDERED_CHARS:,} as a size")


def _check_format(spec: Any) -> None:
    """Refuse a format string (`%` or `str.format`) with a width or precision of a million or more."""
    if isinstance(spec, str) and _WIDE_FORMAT.search(spec):
        raise TemplateTooHeavy("The template formats a value wider than the limit")


def budgeted(iterable: Any) -> Iterator[Any]:
    """The items of a `{% for %}` loop, each one operation."""
    budget = _current()
    for item in iterable:
        budget.tick()
        yield item


def _multiply(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
            _check_size(len(seq) * max(count, 0))
    return left * right


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        _check_size(len(left) + len(right))
    return left + right


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and (
            right > 10_000 or abs(left).bit_length() * right > 100_000):
        raise TemplateTooHeavy("The template computes a number too large")
    return left**right


def _modulo(left: Any, right: Any) -> Any:
    _check_format(left)
    return left % right


def _format(env_format: Any) -> Any:
    @functools.wraps(env_format)
    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(value)
        return env_format(value, *args, **kwargs)

    return format_


def _join(env_join: Any) -> Any:
    @functools.wraps(env_join)
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value) if not isinstance(value, (list, tuple)) else value
        _check_size(len(items) * len(str(d)) + sum(len(str(i)) for i in items[:MAX_RENDERED_CHARS]))
        return env_join(eval_ctx, items, d, attribute)

    return join


def _replace(env_replace: Any) -> Any:
    @functools.wraps(env_replace)
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        text, old_text, new_text = str(s), str(old), str(new)
        hits = text.count(old_text) if old_text else len(text) + 1
        _check_size(len(text) + hits * max(0, len(new_text) - len(old_text)))
        return env_replace(eval_ctx, s, old, new, count)

    return replace


class _BoundedNamespace(Namespace):
    """`namespace()` whose attributes are held to the size limit (so no value doubles itself in a loop)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _current().produce(value)
        super().__setitem__(name, value)


def _filter(fn: Any) -> Any:
    @functools.wraps(fn)  # keeps jinja_pass_arg, so context-taking filters still get their context
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        _check_numbers(args[1:])
        _check_numbers(kwargs.values())
        return budget.produce(fn(*args, **kwargs))

    return bounded


class LimitedSandbox(SandboxedEnvironment):
    """The sandbox every template of the product is compiled in."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binop_table.update({"*": _multiply, "+": _add, "**": _power, "%": _modulo})
        self.globals["namespace"] = _BoundedNamespace
        self.filters["join"] = _join(self.filters["join"])
        self.filters["replace"] = _replace(self.filters["replace"])
        self.filters["format"] = _format(self.filters["format"])
        self.filters = {name: _filter(fn) for name, fn in self.filters.items()}

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        budget = _current()
        budget.tick()
        return budget.produce(self.binop_table[operator_name](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's form
        budget = _current()
        budget.tick()
        _check_numbers(args)
        _check_numbers(kwargs.values())
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # str.format comes wrapped
        if isinstance(owner, str):
            _check_format(owner)
            if getattr(__obj, "__name__", "") == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                hits = owner.count(old) if old else len(owner) + 1
                _check_size(len(owner) + hits * max(0, len(new) - len(old)))
        return budget.produce(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        for node in source.find_all(_CAPTURING):
            raise TemplateTooHeavy(f"{_construct(node)} is not supported in email templates")
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.ImportedName(f"{__name__}.budgeted"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        return super()._generate(source, name, filename, defer_init=defer_init)


def _construct(node: nodes.Node) -> str:
    return {nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}", nodes.FilterBlock: "A {% filter %} block",
            nodes.AssignBlock: "A {% set %}...{% endset %} block"}[type(node)]


def render_bounded(template: Any, data: dict[str, Any], *, seconds: float = RENDER_SECONDS) -> str:
    """Render `template` for `data` within one budget; the text is counted as it is produced."""
    token = _budget.set(RenderBudget(seconds))
    try:
        parts, size = [], 0
        for chunk in template.generate(data):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise TemplateTooHeavy(f"The message would be larger than {MAX_RENDERED_CHARS:,} characters")
            parts.append(chunk)
        return "".join(parts)
    except RecursionError:
        raise TemplateTooHeavy("The template nests too deeply") from None
    except MemoryError:
        raise TemplateTooHeavy("The template needs too much memory") from None
    finally:
        _budget.reset(token)


"""Personalization: message templates compiled once in a sandbox, rendered once per message.

Templates are Jinja2 in an `ImmutableSandboxedEnvironment` with strict undefined names; the
HTML parts (an email's `body`) are autoescaped, the others (subject, text, SMS, push, webhook)
are not. A template sees `recipient` (the recipient's profile fields), `target` (the
worktable row: the fields of the entity flowing into the channel, carried and enrichment
columns, top-N collections as lists of dicts), `row` (the same as `target`, an older name),
`vars` (the campaign variables) and `unsubscribe_url` (the message's one-click link).

Three lines of defence against template injection (SSTI):
1. a static walk of the parsed template refuses private attributes (`__class__`...), `mro`,
   `format`/`format_map`, `self`, the helper globals (`cycler`, `namespace`...), attribute
   names smuggled through filters, includes and imports — at validation, before any render;
2. the sandbox refuses the same at render time, whatever the data;
3. `range`, `*` on text and lists, and `**` are capped, so a template cannot eat the memory.

Validation (`check_template`) also resolves every `recipient.X` / `target.X` / `vars.X` path
against a sample context built from the model (`sample_context`), then renders the template
against it, so a misspelt field fails `cantata campaign validate` with its template line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from cantata.delivery.formats import FILTERS, FormatValueError
from cantata.errors import CantataError, did_you_mean
from cantata.model import Model

CONTEXT_NAMES = ("recipient", "target", "row", "vars", "unsubscribe_url")
COLLECTION = "collection"  # the column type of top-N related rows (canvas enrich)

MAX_RANGE = 1_000  # items a template's range() may produce
MAX_RANGE_TOTAL = 10_000  # items all range() calls of one render may produce (nested loops)
MAX_REPEAT = 100_000  # characters or items `text * n` / `list * n` may produce
MAX_EXPONENT = 100  # `a ** b` on integers
MAX_OUTPUT = 1_000_000  # characters one rendered part may hold

# Names a template may not read: Jinja's helper globals, the template object (`self`, the
# classic way to `__globals__`), and names other frameworks expose to their templates.
REFUSED_NAMES = frozenset(
    {"self", "cycler", "joiner", "namespace", "lipsum", "config", "request", "session", "g"}
)
# Attributes refused besides private ones (`_x`): class-hierarchy walking, str.format tricks
# that reach attributes from inside a format string, and Python frame/function internals.
REFUSED_ATTRIBUTES = frozenset(
    {
        "mro",
        "format",
        "format_map",
        "func_globals",
        "func_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "im_func",
        "im_self",
    }
)
# Filters whose arguments name attributes to read (`map(attribute="x")`, `attr("x")`).
_ATTRIBUTE_FILTERS = frozenset(
    {"attr", "map", "selectattr", "rejectattr", "groupby", "sort", "sum", "unique", "min", "max"}
)
# Names a template may read without defining them: the loop and macro helpers, and globals.
_IMPLICIT_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "range", "dict"})


class TemplateError(CantataError):
    """A template cannot compile or render: which part (subject, body...), which line, why."""

    def __init__(self, reason: str, *, part: str, line: int | None, where: str = "") -> None:
        self.reason = reason
        self.part = part
        self.line = line
        place = ".".join(p for p in (where, part) if p)
        super().__init__(reason, where=f"{place} line {line}" if line else place)


@dataclass(frozen=True)
class TemplateProblem:
    """A problem found by `check_template`: the template line (1-based) and what is wrong."""

    line: int | None
    message: str


# --- the sandbox --------------------------------------------------------------------------------


class _Undefined(StrictUndefined):
    """StrictUndefined whose message names the missing field and the nearest existing ones."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        name, obj = self._undefined_name, self._undefined_obj
        if self._undefined_hint:
            return self._undefined_hint
        if obj is missing:
            return f"unknown name {name!r}{did_you_mean(str(name), CONTEXT_NAMES)}"
        if isinstance(obj, Mapping):
            return f"no field {name!r}{did_you_mean(str(name), [str(k) for k in obj])}"
        if isinstance(obj, Sequence) and isinstance(name, int):
            return f"no item [{name}]: the list has {len(obj)} item{'s' if len(obj) != 1 else ''}"
        return f"a {type(obj).__name__} value has no attribute {name!r}"


class _Sandbox(ImmutableSandboxedEnvironment):
    # Without interception `"x" * 10**9` or `9 ** 9 ** 9` would stall or exhaust the sender.
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_REPEAT
                ):
                    raise SecurityError(f"repeating a value beyond {MAX_REPEAT:,} items")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(right) > MAX_EXPONENT
        ):
            raise SecurityError(f"an exponent above {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


# Items the range() calls of the render under way produced: nested loops multiply them.
_RANGE_SPENT: ContextVar[list[int] | None] = ContextVar("range_spent", default=None)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE:,} items")
    spent = _RANGE_SPENT.get()
    if spent is not None:
        spent[0] += len(numbers)
        if spent[0] > MAX_RANGE_TOTAL:
            raise SecurityError(f"loops over range() of more than {MAX_RANGE_TOTAL:,} items")
    return numbers


def _new_dict(*args: Any, **kwargs: Any) -> dict[str, Any]:
    # Not the class itself: `dict.update(recipient, ...)` would change the message's data.
    return dict(*args, **kwargs)


def render_bounded(template: Template, names: dict[str, Any]) -> str:
    """A template's text, within the budgets: range() items across the render, and the
    length of what it writes (a loop printing a long text would exhaust memory)."""
    token = _RANGE_SPENT.set([0])
    try:
        pieces: list[str] = []
        size = 0
        for piece in template.root_render_func(template.new_context(names, True)):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise SecurityError(f"a message part longer than {MAX_OUTPUT:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    except Exception:
        ENVIRONMENT.handle_exception()  # re-raises with the template's lines in the traceback
    finally:
        _RANGE_SPENT.reset(token)


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html")


def _blank_if_null(value: Any) -> Any:
    """A null field prints as nothing, not as "None"."""
    return "" if value is None else value


def _environment() -> _Sandbox:
    env = _Sandbox(undefined=_Undefined, autoescape=_autoescape, finalize=_blank_if_null)
    env.globals.clear()  # cycler, joiner, lipsum, namespace: nothing a message needs
    env.globals.update({"range": _range, "dict": _new_dict})
    env.filters.update(FILTERS)
    return env


ENVIRONMENT = _environment()


# --- static checks ------------------------------------------------------------------------------


def _private_or_refused(name: str) -> bool:
    return name.startswith("_") or name in REFUSED_ATTRIBUTES


def _refusal(name: str) -> str:
    if name in ("format", "format_map"):
        return (
            f"'.{name}' is refused in templates (sandbox): format strings can reach "
            "attributes; use the format filter instead: '%s €'|format(x)"
        )
    if name.startswith("_"):
        return f"access to {name!r} is refused: names starting with '_' are private (sandbox)"
    return f"access to {name!r} is refused (sandbox)"


def _constant(node: nodes.Node) -> Any:
    """The value of a constant expression (`"__cla" ~ "ss__"` included), or `missing`."""
    if not isinstance(node, nodes.Expr):
        return missing
    try:
        return node.as_const(nodes.EvalContext(ENVIRONMENT))
    except Exception:  # nodes.Impossible, or an error evaluating the constant
        return missing


def refusals(ast: nodes.Template) -> list[TemplateProblem]:
    """Everything the sandbox would refuse, found statically in the parsed template."""
    found: list[TemplateProblem] = []

    def refuse(node: nodes.Node, message: str) -> None:
        found.append(TemplateProblem(node.lineno, message))

    for node in ast.find_all(nodes.Node):
        if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            refuse(node, "templates stand alone: extends, include and import are refused")
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name in REFUSED_NAMES or node.name.startswith("_"):
                refuse(
                    node,
                    f"{node.name!r} is not available in templates (sandbox); they read "
                    "recipient, target and vars",
                )
        elif isinstance(node, nodes.Getattr):
            if _private_or_refused(node.attr):
                refuse(node, _refusal(node.attr))
        elif isinstance(node, nodes.Getitem):
            key = _constant(node.arg)
            if isinstance(key, str) and _private_or_refused(key):
                refuse(node, _refusal(key))
        elif isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_FILTERS:
            _filter_refusals(node, refuse)
        elif isinstance(node, nodes.Call):
            _range_refusal(node, refuse)
        elif isinstance(node, nodes.For) and not _bounded_iterable(node.iter):
            refuse(
                node,
                "a loop over a computed value is refused: loops go over data (recipient, "
                "target, vars, a loop's item), a literal list or range() (sandbox)",
            )
    return found


def _bounded_iterable(node: nodes.Node) -> bool:
    """Whether a loop's iterable is, under its filters, calls and lookups, data, a literal or
    range(): their sizes are bounded, where `'x' * 100000` nested twice would never end."""
    while isinstance(node, nodes.Filter | nodes.Test | nodes.Getattr | nodes.Getitem | nodes.Call):
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            return True  # range() or dict(): the only functions a template can call
        if node.node is None:  # a filter block's filter
            return True
        node = node.node
    return isinstance(node, nodes.Name | nodes.Const | nodes.List | nodes.Tuple | nodes.Dict)


_COMPUTED_ATTR = "attr() with a computed name is refused: give a constant attribute name (sandbox)"


def _filter_refusals(node: nodes.Filter, refuse: Callable[[nodes.Node, str], None]) -> None:
    # map's first positional argument names a filter (map("upper")), not an attribute.
    positional = node.args[1:] if node.name == "map" else node.args
    if node.name == "attr" and (node.dyn_args is not None or node.dyn_kwargs is not None):
        refuse(node, _COMPUTED_ATTR)
    for arg in [*positional, *(kw.value for kw in node.kwargs)]:
        value = _constant(arg)
        if value is missing and node.name == "attr":
            refuse(node, _COMPUTED_ATTR)
        elif isinstance(value, str):
            for piece in value.split("."):
                if _private_or_refused(piece):
                    refuse(node, _refusal(piece))
                    return


def _range_refusal(node: nodes.Call, refuse: Callable[[nodes.Node, str], None]) -> None:
    if not (isinstance(node.node, nodes.Name) and node.node.name == "range"):
        return
    args = [_constant(a) for a in node.args]
    if node.kwargs or not all(isinstance(a, int) for a in args):
        return
    try:
        size = len(range(*args))
    except (OverflowError, ValueError, TypeError):
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        refuse(node, f"range() of more than {MAX_RANGE:,} items is refused")


class _OpenRecord(dict[str, Any]):
    """A sample row whose fields are not known (the population upstream is not known, or a
    collection's item fields are not): any field reads as sample text."""

    def __missing__(self, key: str) -> str:
        return "sample"


def _bound_names(ast: nodes.Template) -> set[str]:
    """Names the template defines itself: loop targets, set, macros and their parameters."""
    names = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return names | {m.name for m in ast.find_all(nodes.Macro)}


def _path_text(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_path_text(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        key = _constant(node.arg)
        inner = _path_text(node.node)
        return f"{inner}[{key!r}]" if key is not missing else f"{inner}[...]"
    return "(...)"


def unknown_names(ast: nodes.Template, context: Mapping[str, Any]) -> list[TemplateProblem]:
    """Names and field paths that do not exist in `context` (a sample context), with the
    nearest valid ones. Paths through locally defined names are left to the sample render."""
    bound = _bound_names(ast)
    found: list[TemplateProblem] = []
    resolved: dict[int, Any] = {}  # id(node) → sample value, or missing when unresolvable

    def resolve(node: nodes.Node) -> Any:
        if id(node) not in resolved:
            resolved[id(node)] = _resolve(node)
        return resolved[id(node)]

    def _resolve(node: nodes.Node) -> Any:
        if isinstance(node, nodes.Name):
            if node.name in bound or node.name not in context:
                return missing
            return context[node.name]
        if isinstance(node, nodes.Getattr):
            return step(node, resolve(node.node), node.attr)
        if isinstance(node, nodes.Getitem):
            return step(node, resolve(node.node), _constant(node.arg))
        return missing

    def step(node: nodes.Getattr | nodes.Getitem, value: Any, key: Any) -> Any:
        if value is missing or key is missing or isinstance(value, _OpenRecord):
            return missing
        if isinstance(value, Mapping) and isinstance(key, str):
            if key in value:
                return value[key]
            if hasattr(value, key):  # a dict method: items, get...
                return missing
            where = _path_text(node.node)
            if where == "vars":
                message = f"unknown variable vars.{key}{did_you_mean(key, value)}"
            else:
                message = f"unknown field {where}.{key}{did_you_mean(key, value)}"
            found.append(TemplateProblem(node.lineno, message))
            return missing
        if isinstance(value, list) and isinstance(key, int):
            return value[0] if value else missing  # a sample list stands for any length
        return missing

    for node in ast.find_all(nodes.Name):
        if (
            node.ctx == "load"
            and node.name not in bound
            and node.name not in context
            and node.name not in _IMPLICIT_NAMES
            and node.name not in REFUSED_NAMES
            and not node.name.startswith("_")
        ):
            found.append(
                TemplateProblem(
                    node.lineno,
                    f"unknown name {node.name!r}{did_you_mean(node.name, CONTEXT_NAMES)}",
                )
            )
    for access in ast.find_all((nodes.Getattr, nodes.Getitem)):
        resolve(access)
    return found


# --- compiling and rendering --------------------------------------------------------------------


def _filename(part: str) -> str:
    return f"<template {part}>"


def _parse(text: str, *, part: str, html: bool) -> nodes.Template:
    """The AST; TemplateSyntaxError when the text is not a template."""
    return ENVIRONMENT.parse(text, name=f"{part}.html" if html else part)


# Every validation of a campaign (each test run, each publish) checks its templates again: the
# parse and the compile, the costly part, are kept per text. The trees are only read.
@lru_cache(maxsize=1024)
def _parsed(text: str, part: str, html: bool) -> nodes.Template:
    return _parse(text, part=part, html=html)


@lru_cache(maxsize=1024)
def _built(text: str, part: str, html: bool) -> Template:
    return _build(_parsed(text, part, html), part=part, html=html)


def _build(ast: nodes.Template, *, part: str, html: bool) -> Template:
    name = f"{part}.html" if html else part
    code = ENVIRONMENT.compile(ast, name=name, filename=_filename(part))
    return ENVIRONMENT.template_class.from_code(
        ENVIRONMENT, code, ENVIRONMENT.make_globals(None), None
    )


def _syntax_reason(exc: TemplateSyntaxError) -> str:
    return f"syntax error: {exc.message}" if exc.message else "syntax error"


def _compile_part(text: str, *, part: str, html: bool, where: str) -> Template:
    try:
        ast = _parse(text, part=part, html=html)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_reason(exc), part=part, line=exc.lineno, where=where) from None
    refused = refusals(ast)
    if refused:
        first = refused[0]
        raise TemplateError(first.message, part=part, line=first.line, where=where)
    return _build(ast, part=part, html=html)


def _error_line(exc: BaseException, part: str) -> int | None:
    """The template line of a render error: Jinja rewrites the traceback so that template
    frames carry the template's file name and line."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _filename(part):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_reason(exc: Exception) -> str:
    if isinstance(exc, UndefinedError):
        return exc.message or "undefined value"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, FormatValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def with_aliases(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """`row` and `target` name the same row: give whichever is missing."""
    if "target" in context and "row" not in context:
        return {**context, "row": context["target"]}
    if "row" in context and "target" not in context:
        return {**context, "target": context["row"]}
    return context


@dataclass(frozen=True)
class CompiledMessage:
    """The compiled parts of one channel's message; `render` is all a message costs."""

    where: str
    templates: tuple[tuple[str, Template], ...]

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(part for part, _ in self.templates)

    def render(self, context: Mapping[str, Any]) -> dict[str, str]:
        """Every part rendered; TemplateError names the part and line of the first failure."""
        # One dict of globals and names for all parts, shared by their contexts: Template.render
        # would merge the template's globals (a ChainMap) into a new dict for every part.
        names = {**ENVIRONMENT.globals, **with_aliases(context)}
        out: dict[str, str] = {}
        for part, template in self.templates:
            try:
                out[part] = render_bounded(template, names)
            except Exception as exc:  # any failure of a user's template is that template's
                raise TemplateError(
                    _render_reason(exc), part=part, line=_error_line(exc, part), where=self.where
                ) from exc
        return out


def compile_parts(
    parts: Mapping[str, str], *, html_parts: Collection[str] = (), where: str = ""
) -> CompiledMessage:
    """Compile each part (`{"subject": ..., "body": ...}`) once; the same parts compile once
    per process (the dispatcher asks again for every batch). `html_parts` are autoescaped.
    TemplateError names `where`, the part and the line of a syntax error or a refusal."""
    return _compile_cached(tuple(parts.items()), frozenset(html_parts), where)


@lru_cache(maxsize=512)
def _compile_cached(
    parts: tuple[tuple[str, str], ...], html_parts: frozenset[str], where: str
) -> CompiledMessage:
    return CompiledMessage(
        where,
        tuple(
            (part, _compile_part(text, part=part, html=part in html_parts, where=where))
            for part, text in parts
        ),
    )


def _has_open(value: Any) -> bool:
    if isinstance(value, _OpenRecord):
        return True
    if isinstance(value, Mapping):
        return any(_has_open(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_open(v) for v in value)
    return False


def check_template(
    text: str, *, html: bool, context: Mapping[str, Any], part: str = "template"
) -> list[TemplateProblem]:
    """The problems of a template, for validation: a syntax error, what the sandbox refuses,
    unknown names and fields (against a sample context from `sample_context`), then errors
    rendering it against that context. Empty when the template is fine."""
    try:
        ast = _parsed(text, part, html)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno, _syntax_reason(exc))]
    found = sorted(
        [*refusals(ast), *unknown_names(ast, with_aliases(context))],
        key=lambda p: p.line or 0,
    )
    if found or _has_open(context):
        # An open sample row reads any field as text: rendering it would report false errors.
        return found
    try:
        render_bounded(_built(text, part, html), {**ENVIRONMENT.globals, **with_aliases(context)})
    except FormatValueError:
        pass  # a filter could not read a sample value ("sample" as a date): only data can tell
    except Exception as exc:
        return [TemplateProblem(_error_line(exc, part), _render_reason(exc))]
    return []


# --- sample and real contexts -------------------------------------------------------------------


class SampleVariable(Protocol):
    """A campaign variable as validation sees it (canvas.definition.Variable)."""

    @property
    def type(self) -> str: ...

    @property
    def default(self) -> Any: ...


_ADDRESS_SAMPLES = {"email": "sample@example.com", "sms": "+15550100", "push": "sample-token"}


def sample_value(kind: str, values: Sequence[Any] | None = None, address: str | None = None) -> Any:
    """A plausible value of a field or variable type for rendering against sample rows."""
    if values:
        return values[0]
    if address in _ADDRESS_SAMPLES:
        return _ADDRESS_SAMPLES[address]
    samples: dict[str, Callable[[], Any]] = {
        "integer": lambda: 1,
        "decimal": lambda: Decimal("1.00"),
        "float": lambda: 1.0,
        "boolean": lambda: True,
        "date": date.today,
        "timestamp": lambda: datetime.now().replace(microsecond=0),
        COLLECTION: lambda: [_OpenRecord()],
    }
    make = samples.get(kind)
    return make() if make is not None else "sample"


def sample_context(
    model: Model,
    entity: str | None = None,
    columns: Mapping[str, str] | None = None,
    variables: Mapping[str, SampleVariable] | None = None,
    *,
    items: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """A context like a real message's, from types alone: `recipient` has every field of the
    recipient entity; `target` every field of `entity` (the rows flowing into the channel) and
    the carried `columns` (name → type; a collection column is a one-item list, its item the
    fields in `items[column]` when known); `vars` the variables' defaults or samples.

    `entity=None` (the population is not known) or `variables=None` (not readable) make that
    name an open record where any field reads as "sample"."""
    recipient = {
        name: sample_value(f.type.value, f.values, f.address)
        for name, f in model.recipient.fields.items()
    }
    target: dict[str, Any]
    if entity is None or entity not in model.entities:
        target = _OpenRecord()
    else:
        target = {
            name: sample_value(f.type.value, f.values, f.address)
            for name, f in model.entities[entity].fields.items()
        }
        for name, kind in (columns or {}).items():
            fields = (items or {}).get(name)
            if kind == COLLECTION and fields is not None:
                target[name] = [{n: sample_value(t) for n, t in fields.items()}]
            else:
                target[name] = sample_value(kind)
    values: dict[str, Any]
    if variables is None:
        values = _OpenRecord()
    else:
        values = {
            name: v.default if v.default is not None else sample_value(v.type)
            for name, v in variables.items()
        }
    return message_context(recipient, target, values, SAMPLE_UNSUBSCRIBE_URL)


SAMPLE_UNSUBSCRIBE_URL = "https://example.com/unsubscribe/sample"


def message_context(
    recipient: Mapping[str, Any],
    target: Mapping[str, Any],
    variables: Mapping[str, Any],
    unsubscribe_url: str = "",
) -> dict[str, Any]:
    """The context of one message, as the dispatcher and the preview build it."""
    return {
        "recipient": recipient,
        "target": target,
        "row": target,
        "vars": variables,
        "unsubscribe_url": unsubscribe_url,
    }


def render_message(
    parts: Mapping[str, str],
    context: Mapping[str, Any],
    *,
    html_parts: Collection[str] = (),
    where: str = "",
) -> dict[str, str]:
    """Template parts rendered for one context (`message_context`): what
    `cantata campaign preview` shows. TemplateError names the part and line of a failure."""
    return compile_parts(parts, html_parts=html_parts, where=where).render(context)

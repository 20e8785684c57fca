"""Templates: one document, one schedule per item of `for_each` (pure: no I/O).

    fleet: digest                      # optional: the fleet's name (default: the name's fixed text)
    description: customer digests      # optional: shown beside the fleet's group in plans
    for_each: customers                # a list here, or the name of a list in the config's vars
    template:
      name: "digest-{{ item.slug }}"   # each item's key; unique per target
      title: "{{ item.name }} digest"
      schedule: {cron: "H 9 * * 1-5"}
      action: {prompt: "Summarise yesterday for {{ item.name }}."}

Substitution is a literal one, done here by one regular expression: `{{ item }}`,
`{{ item.field }}` (dotted paths into mapping items) and `{{ vars.name }}` are replaced by
values, in name, title, description, action.prompt, action.app.input, deliver and targets, and
nowhere else. There are no expressions, filters, loops or calls: a schedule file is data that
CI reads from pull requests, and a template engine (even Jinja2's sandbox) evaluates
expressions, offers attribute access and needs its own escaping rules, which is more power and
more attack surface than filling in a name. Any other `{{ ... }}`, an unknown field, a
placeholder outside those fields or an unclosed `{{` is an error with the template's
file:line and the item (`digest[acme]`), never left in the text.

A string that is one whole placeholder takes the value as it is in app inputs and targets (so
`targets: "{{ item.targets }}"` may hold a list); elsewhere values are written into text
(scalars only).

Each expanded document keeps the template's positions, so every later error (schema, meaning,
platform checks) points at the template line of the field that produced it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.errors import Diagnostic, Severity
from reconciler.forms import TemplateRef
from reconciler.model import KEY_PATTERN, VAR_PATTERN, Fleet
from reconciler.yamlpos import Pos, PosDict, PosList, position_of

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_REFERENCE = re.compile(r"^\s*(item|vars)((?:\.[A-Za-z0-9_-]+)*)\s*$")
_WHOLE = re.compile(r"^\s*\{\{[^{}]*\}\}\s*$")
_KEY = re.compile(KEY_PATTERN)
# Where placeholders are filled in (a path prefix: everything below it counts).
SUBSTITUTED = (
    ("name",),
    ("title",),
    ("description",),
    ("action", "prompt"),
    ("action", "app", "input"),
    ("deliver",),
    ("targets",),
)
# Below these a whole placeholder keeps its value's type (a list of targets, a number input).
_TYPED = (("action", "app", "input"), ("targets",))
_TOP = Pos(1, 1)
_FIELDS_TEXT = "name, title, description, action.prompt, action.app.input, deliver and targets"
_KNOWN = "{{ item }}, {{ item.FIELD }} and {{ vars.NAME }}"


@dataclass
class FleetInfo:
    """One template document as loaded: where it is and the labels of its items."""

    name: str
    source: str  # file:line
    description: str
    items: list[str] = field(default_factory=list)


@dataclass
class Expansion:
    info: FleetInfo | None
    documents: list[tuple[PosDict, TemplateRef]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def is_template(data: Mapping[str, Any]) -> bool:
    return "template" in data or "for_each" in data


class _Problem(Exception):
    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


# ---------------------------------------------------------------------------------------------
# Compiling a template: each string with placeholders becomes a slot, found once


@dataclass(frozen=True)
class _Ref:
    root: str  # "item" or "vars"
    path: tuple[str, ...]
    text: str  # as written, for messages

    def resolve(self, item: Any, variables: Mapping[str, Any]) -> Any:
        value: Any = item if self.root == "item" else variables
        walked = self.root
        for part in self.path:
            if not isinstance(value, Mapping):
                kind = "a mapping" if walked != "item" else "a mapping item"
                raise _Problem(
                    f"{{{{ {self.text} }}}}: {walked} is {_kind(value)}, so it has no field "
                    f"{part!r} (`.{part}` needs {kind})",
                    (),
                )
            if part not in value:
                fields = ", ".join(map(str, value)) or "none"
                raise _Problem(
                    f"{{{{ {self.text} }}}}: {walked} has no field {part!r} (it has: {fields})", ()
                )
            value = value[part]
            walked += f".{part}"
        return value


@dataclass(frozen=True)
class _Slot:
    path: tuple[str | int, ...]
    pieces: tuple[str | _Ref, ...]
    typed: bool  # one whole placeholder below a typed path: the value keeps its type
    pos: Pos = _TOP  # the placeholder's line: where a substituted value points


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    return "a value"


def _text(value: Any, ref: _Ref) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Problem(
        f"{{{{ {ref.text} }}}} is {_kind(value)}: only a value can be written into text", ()
    )


def _compile(text: str, path: tuple[str | int, ...], variables: Mapping[str, Any]) -> _Slot:
    pieces: list[str | _Ref] = []
    at = 0
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1)
        found = _REFERENCE.match(inner)
        if found is None or "{" in inner:
            shown = " ".join(inner.split())
            raise _Problem(
                f"unknown placeholder {{{{ {shown} }}}}: a template knows {_KNOWN}", path
            )
        root, dotted = found.group(1), found.group(2)
        ref = _Ref(root, tuple(p for p in dotted.split(".") if p), f"{root}{dotted}")
        if root == "vars":
            if not ref.path:
                raise _Problem("{{ vars }} needs a name: {{ vars.NAME }}", path)
            if ref.path[0] not in variables:
                known = ", ".join(variables) or "none"
                raise _Problem(
                    f"{{{{ {ref.text} }}}}: the config has no var {ref.path[0]!r} (its vars: {known})",
                    path,
                )
            try:  # a missing nested field is the template's error, not an item's
                ref.resolve(None, variables)
            except _Problem as exc:
                raise _Problem(exc.message, path) from None
        if match.start() > at:
            pieces.append(text[at : match.start()])
        pieces.append(ref)
        at = match.end()
    rest = text[at:]
    if "{{" in rest:
        raise _Problem("unclosed `{{`: a placeholder is written {{ item }}", path)
    if rest:
        pieces.append(rest)
    typed = any(path[: len(p)] == p for p in _TYPED) and bool(_WHOLE.match(text))
    return _Slot(path, tuple(pieces), typed)


def _slots(body: PosDict, variables: Mapping[str, Any]) -> list[_Slot]:
    """Every string of the template body holding `{{`, compiled; errors for the wrong places."""
    out: list[_Slot] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if "{{" in value:
                if not any(path[: len(p)] == p for p in SUBSTITUTED):
                    shown = ".".join(map(str, path))
                    raise _Problem(
                        f"{shown}: placeholders are filled in only in {_FIELDS_TEXT}", path
                    )
                slot = _compile(value, path, variables)
                out.append(replace(slot, pos=position_of(body, path)))
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, (*path, key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, (*path, index))

    walk(body, ())
    return out


# ---------------------------------------------------------------------------------------------
# Expanding


def fleet_name(data: Mapping[str, Any]) -> str:
    """The fleet's name: `fleet:`, else the fixed text of the template's name pattern."""
    given = data.get("fleet")
    if isinstance(given, str) and given:
        return given
    template = data.get("template")
    pattern = template.get("name") if isinstance(template, Mapping) else None
    if not isinstance(pattern, str):
        return "template"
    fixed = re.sub(r"-{2,}", "-", _PLACEHOLDER.sub("-", pattern)).strip("-")
    return fixed if _KEY.match(fixed) else "template"


def _outer_problems(data: PosDict) -> list[_Problem]:
    """The template document's own keys: the template, its items, its name."""
    problems: list[_Problem] = []
    allowed = list(Fleet.model_fields)
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(allowed)}"
            problems.append(
                _Problem(f"unknown key {key!r} in a template document ({more})", (key,))
            )
    for key in ("template", "for_each"):
        if key not in data:
            problems.append(
                _Problem(
                    f"a template document needs `{key}` (for example: for_each: [acme, globex] "
                    "and template: {name: 'digest-{{ item }}', ...})",
                    (),
                )
            )
    if "template" in data and not isinstance(data["template"], dict):
        problems.append(
            _Problem("template: expected a mapping: the schedule made for each item", ("template",))
        )
    fleet = data.get("fleet")
    if fleet is not None and not (isinstance(fleet, str) and _KEY.match(fleet)):
        problems.append(
            _Problem(f"fleet: {fleet!r} is not a name like `digest` ({KEY_PATTERN})", ("fleet",))
        )
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(_Problem("description: expected text", ("description",)))
    return problems


def _items(data: PosDict, variables: Mapping[str, Any]) -> list[Any]:
    raw = data["for_each"]
    if isinstance(raw, str):
        if not re.match(VAR_PATTERN, raw):
            raise _Problem(
                f"for_each: {raw!r} is not a var name (for_each: customers names vars.customers)",
                ("for_each",),
            )
        if raw not in variables:
            known = ", ".join(variables) or "none"
            raise _Problem(
                f"for_each: the config has no var {raw!r} (its vars: {known})", ("for_each",)
            )
        items = variables[raw]
        where = f"vars.{raw}"
        if not isinstance(items, list):
            raise _Problem(f"for_each: {where} is {_kind(items)}, not a list", ("for_each",))
    elif isinstance(raw, list):
        items, where = raw, "for_each"
    else:
        raise _Problem(
            f"for_each: expected a list of items, or the name of a list in the config's vars, "
            f"not {_kind(raw)} (for_each: [acme, globex] or for_each: customers)",
            ("for_each",),
        )
    for index, item in enumerate(items):
        if item is None or isinstance(item, list):
            loc: tuple[str | int, ...] = (
                ("for_each", index) if where == "for_each" else ("for_each",)
            )
            raise _Problem(
                f"{where}[{index}] is {_kind(item)}: an item is a value (acme) or a mapping "
                "({slug: acme, name: Acme})",
                loc,
            )
    return list(items)


def _label(slot: _Slot | None, item: Any, index: int, variables: Mapping[str, Any]) -> str:
    """What the item gives the key (`acme`); the item's number when that cannot be told."""
    if slot is not None:
        try:
            parts = [
                _text(p.resolve(item, variables), p)
                for p in slot.pieces
                if isinstance(p, _Ref) and p.root == "item"
            ]
        except _Problem:
            parts = []
        if parts:
            return ",".join(parts)
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        return str(item)
    return f"#{index + 1}"


def _pinned(value: Any, pos: Pos) -> Any:
    """A copy of a substituted value whose positions all name the placeholder's line."""
    if isinstance(value, Mapping):
        out = PosDict({k: _pinned(v, pos) for k, v in value.items()})
        out.pos = pos
        out.key_pos = dict.fromkeys(out, pos)
        out.value_pos = dict.fromkeys(out, pos)
        return out
    if isinstance(value, list):
        items = PosList(_pinned(v, pos) for v in value)
        items.pos = pos
        items.item_pos = [pos] * len(items)
        return items
    return value


def _fill(slot: _Slot, item: Any, variables: Mapping[str, Any], pos: Pos) -> Any:
    try:
        if slot.typed:
            ref = next(p for p in slot.pieces if isinstance(p, _Ref))
            return _pinned(ref.resolve(item, variables), pos)
        return "".join(
            p if isinstance(p, str) else _text(p.resolve(item, variables), p) for p in slot.pieces
        )
    except _Problem as exc:
        raise _Problem(exc.message, slot.path) from None


def _copy_container(value: Any) -> Any:
    if isinstance(value, PosDict):
        out = PosDict(value)
        out.pos, out.key_pos, out.value_pos = value.pos, value.key_pos, value.value_pos
        return out
    out_list = PosList(value)
    out_list.pos, out_list.item_pos = value.pos, value.item_pos
    return out_list


def _render(
    body: PosDict, slots: Sequence[_Slot], item: Any, variables: Mapping[str, Any]
) -> PosDict:
    """The body with every slot filled in; containers are copied only along the slots' paths
    (positions are shared: nothing downstream writes to them)."""
    doc: PosDict = _copy_container(body)
    for slot in slots:
        parent: Any = doc
        for part in slot.path[:-1]:
            child = _copy_container(parent[part])
            parent[part] = child
            parent = child
        last = slot.path[-1]
        parent[last] = _fill(slot, item, variables, slot.pos)
    return doc


def expand(data: PosDict, file: str, variables: Mapping[str, Any]) -> Expansion:
    """One document per item, each with the template's positions, or the reasons why not."""
    name = fleet_name(data)
    description = data.get("description") if isinstance(data.get("description"), str) else ""

    def problem(exc: _Problem, label: str) -> Diagnostic:
        pos = position_of(data, exc.loc, key=exc.message.startswith("unknown key"))
        return Diagnostic(file, pos.line, pos.column, f"{name}[{label}]: {exc.message}")

    outer = _outer_problems(data)
    if outer:
        return Expansion(None, diagnostics=[problem(p, "*") for p in outer])
    info = FleetInfo(name, f"{file}:{data.pos.line}", str(description or ""))
    body: PosDict = data["template"]
    try:
        items = _items(data, variables)
    except _Problem as exc:
        return Expansion(info, diagnostics=[problem(exc, "*")])
    try:
        slots = _slots(body, variables)
    except _Problem as exc:
        return Expansion(
            info, diagnostics=[problem(_Problem(exc.message, ("template", *exc.loc)), "*")]
        )
    name_slot = next((s for s in slots if s.path == ("name",)), None)
    has_item = name_slot is not None and any(
        isinstance(p, _Ref) and p.root == "item" for p in name_slot.pieces
    )
    if len(items) > 1 and isinstance(body.get("name"), str) and not has_item:
        return Expansion(
            info,
            diagnostics=[
                problem(
                    _Problem(
                        "template.name has no {{ item }}: every item would get the same key "
                        "(for example name: 'digest-{{ item }}')",
                        ("template", "name"),
                    ),
                    "*",
                )
            ],
        )
    out = Expansion(info)
    for index, item in enumerate(items):
        label = _label(name_slot, item, index, variables)
        info.items.append(label)
        try:
            rendered = _render(body, slots, item, variables)
        except _Problem as exc:
            out.diagnostics.append(problem(_Problem(exc.message, ("template", *exc.loc)), label))
            continue
        out.documents.append((rendered, TemplateRef(name, label, info.description)))
    return out


# ---------------------------------------------------------------------------------------------
# One message for a problem every item shares


_LABELLED = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})\[(.*?)\]: (.*)$", re.S)
MAX_NAMED_ITEMS = 5


def collapse(
    diagnostics: Iterable[Diagnostic], fleets: Mapping[str, FleetInfo]
) -> list[Diagnostic]:
    """The same finding at one template line for several items, once: `digest[*]` when every
    item has it, else `digest[acme, globex]`."""
    groups: dict[tuple[str, int, int, Severity, str, str], list[str]] = {}
    out: list[Diagnostic] = []
    for d in diagnostics:
        match = _LABELLED.match(d.message) if fleets else None
        if match is None or match.group(1) not in fleets:
            out.append(d)
            continue
        key = (d.file, d.line, d.column, d.severity, match.group(1), match.group(3))
        groups.setdefault(key, []).append(match.group(2))
    for (file, line, column, severity, name, rest), labels in groups.items():
        labels = list(dict.fromkeys(labels))
        every = fleets[name].items
        if "*" in labels or (len(labels) > 1 and set(every) <= set(labels)):
            shown = "*"
        elif len(labels) > MAX_NAMED_ITEMS:
            shown = (
                ", ".join(labels[:MAX_NAMED_ITEMS]) + f" and {len(labels) - MAX_NAMED_ITEMS} more"
            )
        else:
            shown = ", ".join(labels)
        out.append(Diagnostic(file, line, column, f"{name}[{shown}]: {rest}", severity))
    return out

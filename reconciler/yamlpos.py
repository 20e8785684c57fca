"""Safe YAML loading that keeps the file:line:column of every key and value.

Mappings load as PosDict and sequences as PosList: plain dict and list subclasses that also
remember where each entry stood, so any error found later (by pydantic, by a platform check)
can name its line. Scalars follow YAML 1.2's core schema, not PyYAML's YAML 1.1 defaults: `no`
is a string, `10:30` is not a base-60 integer, and timestamps stay strings for pydantic.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

MAX_FILE_BYTES = 1024 * 1024
# A document may expand aliases to at most this many nodes: beyond it is a billion-laughs file.
MAX_EXPANDED_NODES = 100_000
MAX_DEPTH = 64


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


class YamlProblem(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class PosDict(dict[Any, Any]):
    pos: Pos = Pos(1, 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_pos: dict[Any, Pos] = {}
        self.value_pos: dict[Any, Pos] = {}


class PosList(list[Any]):
    pos: Pos = Pos(1, 1)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_pos: list[Pos] = []


def _mark(node: yaml.Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


try:  # the C parser is several times faster; the constructor stays in Python either way
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(_Base):  # type: ignore[misc]
    # Only the core-schema resolvers below: not PyYAML's YAML 1.1 set.
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> PosDict:
        if not isinstance(node, yaml.MappingNode):
            raise YamlProblem("expected a mapping", _mark(node))
        # flatten_mapping puts the pairs a `<<` merge key brings in first: an explicit key may
        # override them (and a later merged mapping an earlier one), only explicit keys clash.
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        self.flatten_mapping(node)
        merged = len(node.value) - explicit
        result = PosDict()
        result.pos = _mark(node)
        explicit_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise YamlProblem("a mapping key must be a plain value", _mark(key_node)) from None
            if index >= merged:
                if key in explicit_keys:
                    first = result.key_pos[key]
                    raise YamlProblem(
                        f"duplicate key {key!r} (first at line {first.line})", _mark(key_node)
                    )
                explicit_keys.add(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_pos[key] = _mark(key_node)
            result.value_pos[key] = _mark(value_node)
        return result

    def construct_yaml_map(self, node: yaml.MappingNode) -> Iterator[PosDict]:
        yield self.construct_mapping(node)

    def construct_yaml_seq(self, node: yaml.SequenceNode) -> Iterator[PosList]:
        if not isinstance(node, yaml.SequenceNode):  # `!!seq text`
            raise YamlProblem("expected a sequence", _mark(node))
        result = PosList()
        result.pos = _mark(node)
        yield result
        for item in node.value:
            result.append(self.construct_object(item, deep=True))
            result.item_pos.append(_mark(item))

    def construct_undefined(self, node: yaml.Node) -> Any:
        raise YamlProblem(f"unsupported YAML tag {node.tag!r}", _mark(node))


# YAML 1.2 core schema resolvers.
_CORE = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _regexp, _first in _CORE:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:binary", _Loader.construct_undefined)
_Loader.add_constructor("tag:yaml.org,2002:set", _Loader.construct_undefined)
_Loader.add_constructor("tag:yaml.org,2002:omap", _Loader.construct_undefined)
_Loader.add_constructor("tag:yaml.org,2002:pairs", _Loader.construct_undefined)
_Loader.add_constructor(None, _Loader.construct_undefined)


def _int_core(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


def _checked(kind: str, construct: Any) -> Any:
    """A scalar constructor whose bad input (`!!int abc`, `!!bool maybe`, a 5000-digit integer)
    becomes a YamlProblem at the value instead of a ValueError or KeyError escaping."""

    def checked(loader: _Loader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, IndexError):  # IndexError: PyYAML's float on ""
            text = str(node.value)
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise YamlProblem(f"not a valid {kind}: {shown!r}", _mark(node)) from None

    return checked


_Loader.add_constructor("tag:yaml.org,2002:int", _checked("integer", _int_core))
_Loader.add_constructor(
    "tag:yaml.org,2002:float", _checked("number", yaml.SafeLoader.construct_yaml_float)
)
_Loader.add_constructor(
    "tag:yaml.org,2002:bool", _checked("boolean", yaml.SafeLoader.construct_yaml_bool)
)


def _check_size(value: Any, pos: Pos) -> None:
    """Refuse documents that alias-expand past MAX_EXPANDED_NODES or nest past MAX_DEPTH."""
    # id -> (expanded size, height): an alias is measured once, and its height still counts
    # wherever it is used again, deeper (`a1: &a1 [*a0]`, `a2: &a2 [*a1]`, ... nests).
    measured: dict[int, tuple[int, int]] = {}
    too_deep = YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", pos)

    def measure(obj: Any, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise too_deep
        if not isinstance(obj, (dict, list)):
            return 1, 0
        known = measured.get(id(obj))
        if known is not None:
            if depth + known[1] > MAX_DEPTH:
                raise too_deep
            return known
        total, height = 1, 0
        for child in obj.values() if isinstance(obj, dict) else obj:
            size, child_height = measure(child, depth + 1)
            total, height = total + size, max(height, child_height + 1)
        if total > MAX_EXPANDED_NODES:
            raise YamlProblem(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)", pos
            )
        measured[id(obj)] = (total, height)
        return total, height

    measure(value, 0)


def decode(data: bytes) -> str:
    """UTF-8 text, or a YamlProblem naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem("not UTF-8 text (binary file?)", Pos(line, column)) from None
    if "\x00" in text:
        at = text.index("\x00")
        raise YamlProblem("not a text file (NUL byte)", Pos(text.count("\n", 0, at) + 1, 1))
    return text.removeprefix("\ufeff")


# A line starting with this many indentation or indicator characters may nest past MAX_DEPTH.
_LONG_INDENT = re.compile(rf"^[ \t?:-]{{{MAX_DEPTH}}}", re.MULTILINE)


def _guard_depth(text: str) -> None:
    """libyaml's composer recurses in C and crashes the interpreter on `[[[[...` or `- - - ...`
    nested tens of thousands of levels deep: refuse early, at the line where MAX_DEPTH is passed.

    Only a file that could nest that deep (many brackets, or a line starting with a long run of
    indentation and indicators) is scanned; the scan walks parser events, which do not recurse.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH and not _LONG_INDENT.search(text):
        return
    parser = _Base(text)
    try:
        depth = 0
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    pos = Pos(mark.line + 1, mark.column + 1) if mark else Pos(1, 1)
                    raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", pos)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        parser.dispose()


def load_documents(text: str) -> list[tuple[Any, Pos]]:
    """Every document of a YAML stream with its start position. Raises YamlProblem."""
    to_editor = _editor_lines(text)
    if to_editor is None:
        return _load_documents(text)
    try:
        docs = _load_documents(text)
    except YamlProblem as exc:
        raise YamlProblem(exc.message, to_editor(exc.pos)) from None
    done: set[int] = set()
    for value, _ in docs:
        _move_positions(value, to_editor, done)
    return [(value, to_editor(pos)) for value, pos in docs]


def _load_documents(text: str) -> list[tuple[Any, Pos]]:
    loader = _Loader(text)
    docs: list[tuple[Any, Pos]] = []
    try:
        _guard_depth(text)
        while loader.check_node():
            node = loader.get_node()
            pos = _mark(node) if node is not None else Pos(1, 1)
            value = loader.construct_document(node)
            _check_size(value, pos)
            docs.append((value, pos))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(mark.line + 1, mark.column + 1) if mark else Pos(1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        if "\t" in message or "'\\t'" in message or _tab_at(text, mark):
            message += " (YAML does not allow tabs for indentation)"
        raise YamlProblem(f"invalid YAML: {message}", pos) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", Pos(1, 1)) from None
    except RecursionError:
        raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", Pos(1, 1)) from None
    finally:
        loader.dispose()
    return docs


def _tab_at(text: str, mark: yaml.Mark | None) -> bool:
    """Whether the error mark points at a tab (libyaml's messages do not always say so)."""
    return mark is not None and text[mark.index : mark.index + 1] == "\t"


# libyaml (YAML 1.1) also breaks lines at NEL, U+2028 and U+2029; editors and GitHub do not.
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_EDITOR_BREAK = re.compile("\r\n|[\r\n]")


def _editor_lines(text: str) -> Callable[[Pos], Pos] | None:
    """A map from libyaml's line:column to the editor's, or None when they are the same."""
    if not any(ch in text for ch in "\x85\u2028\u2029"):
        return None
    yaml_starts = [0, *(m.end() for m in _YAML_BREAK.finditer(text))]
    editor_starts = [0, *(m.end() for m in _EDITOR_BREAK.finditer(text))]

    def to_editor(pos: Pos) -> Pos:
        index = yaml_starts[min(pos.line, len(yaml_starts)) - 1] + pos.column - 1
        line = bisect_right(editor_starts, index)
        return Pos(line, index - editor_starts[line - 1] + 1)

    return to_editor


def _move_positions(value: Any, to_editor: Callable[[Pos], Pos], done: set[int]) -> None:
    """Rewrite every position in a loaded tree (shared by aliases: each object once)."""
    if not isinstance(value, (PosDict, PosList)) or id(value) in done:
        return
    done.add(id(value))
    value.pos = to_editor(value.pos)
    if isinstance(value, PosDict):
        value.key_pos = {k: to_editor(p) for k, p in value.key_pos.items()}
        value.value_pos = {k: to_editor(p) for k, p in value.value_pos.items()}
        children: Iterable[Any] = value.values()
    else:
        value.item_pos = [to_editor(p) for p in value.item_pos]
        children = value
    for child in children:
        _move_positions(child, to_editor, done)


def position_of(data: Any, loc: tuple[Any, ...], *, key: bool = False) -> Pos:
    """The deepest known position along `loc` in a PosDict/PosList tree."""
    pos = getattr(data, "pos", Pos(1, 1))
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, PosDict) and part in current:
            pos = (current.key_pos if key and last else current.value_pos).get(part, pos)
            current = current[part]
        elif isinstance(current, PosList) and isinstance(part, int) and 0 <= part < len(current):
            pos = current.item_pos[part] if part < len(current.item_pos) else pos
            current = current[part]
        else:
            break
    return pos

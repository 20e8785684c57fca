"""Safe YAML loading that keeps the file:line:column of every key and value.

Mappings load as PosDict and sequences as PosList: plain dict and list subclasses that also
remember where each entry stood, so any error found later (by pydantic, by a platform check)
can name its line. Scalars follow YAML 1.2's core schema, not PyYAML's YAML 1.1 defaults: `no`
is a string, `10:30` is not a base-60 integer, and timestamps stay strings for pydantic.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from sys import intern
from typing import Any, ClassVar, NamedTuple, cast

import yaml

MAX_FILE_BYTES = 1024 * 1024
# A document may expand aliases to at most this many nodes: beyond it is a billion-laughs file.
MAX_EXPANDED_NODES = 100_000
# ... and a file to at most this many characters of text: a few aliases of one long prompt can
# otherwise make a 200 KB file send hundreds of megabytes. Four times the file limit: without
# aliases a file cannot come near it.
MAX_EXPANDED_CHARS = 4 * MAX_FILE_BYTES
MAX_DEPTH = 64


class Pos(NamedTuple):
    line: int
    column: int


class YamlProblem(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


_START = Pos(1, 1)


class PosDict(dict[Any, Any]):
    # Slots, not an instance dict: one of these per mapping of every file adds up (10 MB of a
    # 10,000-schedule repository).
    __slots__ = ("__weakref__", "key_pos", "pos", "value_pos")  # weakref: tests watch them go

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:  # most are made empty, one per mapping of every file
            super().__init__(*args, **kwargs)
        self.pos = _START
        self.key_pos: dict[Any, Pos] = {}
        self.value_pos: dict[Any, Pos] = {}


class PosList(list[Any]):
    __slots__ = ("__weakref__", "item_pos", "pos")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pos = _START
        self.item_pos: list[Pos] = []


def _mark(node: yaml.Node) -> Pos:
    mark = node.start_mark
    return Pos(mark.line + 1, mark.column + 1)


try:  # the C parser is several times faster; the constructor stays in Python either way
    from yaml._yaml import CParser as _Events  # libyaml's events alone

    _Base: type = yaml.CSafeLoader
except ImportError:  # pragma: no cover - libyaml missing
    _Base = _Events = yaml.SafeLoader  # type: ignore[assignment, misc]


_TAG = "tag:yaml.org,2002:"
_NODE_KINDS = {"scalar": "a single value", "sequence": "a list", "mapping": "a mapping"}
_MERGE_TAG = _TAG + "merge"


class _Loader(_Base):  # type: ignore[misc]
    """Composes nodes (libyaml's parser, our resolvers); `_Builder` turns them into values."""

    # Only the core-schema resolvers below: not PyYAML's YAML 1.1 set.
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        # PyYAML's resolve, minus path resolvers and list concatenation: called once per node.
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return _TAG + "str"
        return _TAG + "seq" if kind is yaml.SequenceNode else _TAG + "map"


# YAML 1.2 core schema resolvers.
_CORE = [
    (_TAG + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_TAG + "int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _TAG + "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (_TAG + "null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE_TAG, r"^(?:<<)$", "<"),
]
for _tag, _regexp, _first in _CORE:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _int(text: str) -> int:
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


def _float(text: str) -> float:
    lowered = text.replace("_", "").lower()
    if lowered.lstrip("+-") == ".inf":
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(lowered)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


_SCALARS: dict[str, tuple[str, Callable[[str], Any]]] = {
    _TAG + "str": ("string", str),
    _TAG + "timestamp": ("string", str),  # timestamps stay text: pydantic parses them
    _TAG + "null": ("null", lambda _text: None),
    _TAG + "bool": ("boolean", _bool),
    _TAG + "int": ("integer", _int),
    _TAG + "float": ("number", _float),
}


class _Builder:
    """Composed nodes -> PosDict / PosList / scalars, measuring as it goes.

    Faster than PyYAML's generic constructor, and it enforces the bounds in the same walk: an
    aliased collection is built once and shared, and its expanded size, text and height count
    wherever it is used (`a1: &a1 [*a0]`, `a2: &a2 [*a1]`, ... nests and multiplies).
    `chars_before` is the text of the file's earlier documents: the text bound holds for the
    whole file.
    """

    def __init__(self, doc_pos: Pos, chars_before: int = 0) -> None:
        # id(node) -> (value, size, height, characters of scalar text)
        self.built: dict[int, tuple[Any, int, int, int]] = {}
        self.building: set[int] = set()  # containers being built: an alias to one is a cycle
        self.chars_left = MAX_EXPANDED_CHARS - chars_before
        self.too_deep = YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", doc_pos)
        self.too_big = YamlProblem(
            f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)", doc_pos
        )

    def build(self, node: yaml.Node, depth: int = 0) -> tuple[Any, int, int, int]:
        if type(node) is yaml.ScalarNode:
            # Most nodes, so kept short: nothing nests or expands below a scalar, and it is not
            # remembered (an alias to one builds an equal value again).
            if depth > MAX_DEPTH:
                raise self.too_deep
            result = (self.scalar(node), 1, 0, len(node.value))
            if result[3] > self.chars_left:
                raise self.too_long(node)
            return result
        known = self.built.get(id(node))
        if known is not None:
            if depth + known[2] > MAX_DEPTH:
                raise self.too_deep
            return known
        if depth > MAX_DEPTH:
            raise self.too_deep
        if isinstance(node, yaml.ScalarNode):
            result = (self.scalar(node), 1, 0, len(node.value))
        else:
            if id(node) in self.building:  # `a: &a [*a]`
                raise YamlProblem(
                    "invalid YAML: an alias (*name) inside the very value its anchor (&name) "
                    "marks: that value would contain itself for ever; remove the alias",
                    _mark(node),
                )
            is_sequence = isinstance(node, yaml.SequenceNode)
            if node.tag != _TAG + ("seq" if is_sequence else "map"):
                raise _unsupported(node)
            self.building.add(id(node))
            if is_sequence:
                result = self.sequence(cast(yaml.SequenceNode, node), depth)
            else:
                result = self.mapping(cast(yaml.MappingNode, node), depth)
            self.building.discard(id(node))
        if result[1] > MAX_EXPANDED_NODES:
            raise self.too_big
        if result[3] > self.chars_left:
            raise self.too_long(node)
        self.built[id(node)] = result
        return result

    @staticmethod
    def too_long(node: yaml.Node) -> YamlProblem:
        return YamlProblem(
            f"text expands to more than {MAX_EXPANDED_CHARS} characters through aliases "
            "(alias bomb?): repeat a long value in fewer places",
            _mark(node),
        )

    @staticmethod
    def scalar(node: yaml.ScalarNode) -> Any:
        kind = _SCALARS.get(node.tag)
        if kind is None:
            if node.tag in (_TAG + "map", _TAG + "seq"):
                expected = "a mapping" if node.tag.endswith("map") else "a sequence"
                raise YamlProblem(f"expected {expected}", _mark(node))
            raise _unsupported(node)
        try:
            return kind[1](node.value)
        except ValueError:  # `!!int abc`, `!!bool maybe`, a 5000-digit integer
            text = str(node.value)
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise YamlProblem(f"not a valid {kind[0]}: {shown!r}", _mark(node)) from None

    def sequence(self, node: yaml.SequenceNode, depth: int) -> tuple[PosList, int, int, int]:
        result = PosList()
        result.pos = _mark(node)
        size, height, chars = 1, 0, 0
        for item in node.value:
            value, item_size, item_height, item_chars = self.build(item, depth + 1)
            result.append(value)
            result.item_pos.append(_mark(item))
            size, height = size + item_size, max(height, item_height + 1)
            chars += item_chars
        return result, size, height, chars

    def mapping(self, node: yaml.MappingNode, depth: int) -> tuple[PosDict, int, int, int]:
        result = PosDict()
        result.pos = _mark(node)
        size, height, chars = 1, 0, 0
        explicit: list[tuple[yaml.Node, yaml.Node]] = []
        merge_key: yaml.Node | None = None
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node))
                continue
            if merge_key is not None:  # PyYAML would merge both; YAML says keys are unique
                raise YamlProblem(
                    f"duplicate key '<<' (first at line {_mark(merge_key).line}): merge several "
                    "mappings with one key, as in `<<: [*base, *extra]`",
                    _mark(key_node),
                )
            merge_key = key_node
            # `<<`: keys of the merged mappings first; an earlier mapping wins over a later one.
            listed = isinstance(value_node, yaml.SequenceNode)
            for source in reversed(value_node.value if listed else [value_node]):
                if not isinstance(source, yaml.MappingNode):
                    raise YamlProblem(
                        f"invalid YAML: `<<` merges mappings, not {_NODE_KINDS[source.id]}: "
                        "give it an alias of one, as in `<<: *base`, or a list of them, as in "
                        "`<<: [*base, *extra]`",
                        _mark(source),
                    )
                merged, merged_size, merged_height, merged_chars = self.build(source, depth)
                result.update(merged)
                result.key_pos.update(merged.key_pos)
                result.value_pos.update(merged.value_pos)
                size, height = size + merged_size, max(height, merged_height)
                chars += merged_chars
        seen: set[Any] = set()
        for key_node, value_node in explicit:
            key, _, _, key_chars = self.build(key_node, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise YamlProblem("a mapping key must be a plain value", _mark(key_node)) from None
            key_pos = _mark(key_node)
            if key in seen:
                first = result.key_pos[key]
                raise YamlProblem(f"duplicate key {key!r} (first at line {first.line})", key_pos)
            seen.add(key)
            value, value_size, value_height, value_chars = self.build(value_node, depth + 1)
            result[key] = value
            result.key_pos[key] = key_pos
            result.value_pos[key] = _mark(value_node)
            size, height = size + value_size + 1, max(height, value_height + 1)
            chars += key_chars + value_chars
        return result, size, height, chars


def _unsupported(node: yaml.Node) -> YamlProblem:
    tag = "!!" + node.tag.removeprefix(_TAG) if node.tag.startswith(_TAG) else node.tag
    return YamlProblem(
        f"unsupported YAML tag {tag} (schedule files take no tags: quote a value that starts "
        "with !)",
        _mark(node),
    )


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
# A document start or end line: no collection or scalar goes on across one (YAML forbids the
# line inside them; a parser ends the document or fails there).
_DOCUMENT_LINE = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)


def _brackets_could_nest_deep(text: str) -> bool:
    """Whether some document of `text` holds more than MAX_DEPTH opening brackets."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    # Many documents of a few brackets each (a file of 100 schedules) cannot nest deep.
    return any(part.count("[") + part.count("{") > MAX_DEPTH for part in _DOCUMENT_LINE.split(text))


def _guard_depth(text: str) -> None:
    """libyaml's composer recurses in C and crashes the interpreter on `[[[[...` or `- - - ...`
    nested tens of thousands of levels deep: refuse early, at the line where MAX_DEPTH is passed.

    Only a file that could nest that deep (a document with many brackets, or a line starting
    with a long run of indentation and indicators) is scanned. The scan walks the pure-Python parser's events: they
    do not recurse, come lazily, and carry no nesting limit of their own (some libyaml builds
    scan a whole flow collection ahead and stop at a limit of theirs first), so the limit and
    its position are schedctl's whatever parser release is installed.
    """
    if not _brackets_could_nest_deep(text) and not _LONG_INDENT.search(text):
        return
    parser = yaml.SafeLoader(text)
    # Some types-PyYAML releases leave get_event untyped: name its type once, here.
    next_event: Callable[[], yaml.Event] = parser.get_event
    try:
        depth = 0
        while parser.check_event():
            event = next_event()
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
    docs = _plain_documents(text)
    return docs if docs is not None else _composed_documents(text)


# The plain-scalar resolvers by first character, as `_Loader.resolve` reads them.
_PLAIN = _Loader.yaml_implicit_resolvers
_NOT_YET = object()  # a mapping's next event is a key


def _plain_documents(text: str) -> list[tuple[Any, Pos]] | None:
    """The common file in one pass over libyaml's events: no anchors, aliases, tags, merge
    keys or duplicate keys, nothing near a bound, no error. None for any other file, which
    `_composed_documents` then reads (and words its errors) as before.

    Composing nodes first costs a Python call per node (the resolver) and a Python object
    per node, then a walk over them; the events come straight from libyaml. The result is
    the same values and positions: tests/loader/test_yamlpos_paths.py compares the two.
    """
    if len(text) > MAX_EXPANDED_CHARS:  # below it, no text bound can be passed without aliases
        return None
    parser = _Events(text)
    get_event: Callable[[], Any] = parser.get_event  # events as Any: read field by field
    new_pos = tuple.__new__
    scalar, mapping_end, sequence_end = (
        yaml.ScalarEvent,
        yaml.MappingEndEvent,
        yaml.SequenceEndEvent,
    )
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    docs: list[tuple[Any, Pos]] = []
    try:
        get_event()  # the stream's start
        while type(get_event()) is yaml.DocumentStartEvent:
            # The open collection (`top`, None at the document's level) and whether it is a
            # sequence; in a mapping, its key waiting for a value (`_NOT_YET` while the key
            # is to come); the enclosing collections on `stack`.
            stack: list[tuple[Any, bool]] = []
            top: Any = None
            is_list = False
            key: Any = _NOT_YET
            key_pos: Pos | None = None
            nodes = 0
            while True:
                event = get_event()
                kind = type(event)
                if kind is scalar:
                    if event.anchor is not None or event.tag is not None:
                        return None
                    value = event.value
                    if event.implicit[0]:  # plain: the core schema decides its type
                        for tag, regexp in _PLAIN.get(value[:1], ()):
                            if regexp.match(value):
                                if tag == _MERGE_TAG:
                                    return None
                                value = _SCALARS[tag][1](value)
                                break
                    mark = event.start_mark
                    pos = new_pos(Pos, (mark.line + 1, mark.column + 1))
                    nodes += 1
                    if top is None:
                        docs.append((value, pos))
                        break
                    if is_list:
                        top.append(value)
                        top.item_pos.append(pos)
                    elif key is _NOT_YET:
                        if value in top:
                            return None  # a duplicate key: the composed path words it
                        # Keys repeat in every file: one string each, not one per mapping.
                        key = intern(value) if type(value) is str else value
                        key_pos = pos
                    else:
                        top[key] = value
                        top.key_pos[key] = key_pos
                        top.value_pos[key] = pos
                        key = _NOT_YET
                elif kind is mapping_start or kind is sequence_start:
                    if event.anchor is not None or event.tag is not None:
                        return None
                    if len(stack) >= MAX_DEPTH:
                        return None
                    value = PosDict() if kind is mapping_start else PosList()
                    mark = event.start_mark
                    value.pos = pos = new_pos(Pos, (mark.line + 1, mark.column + 1))
                    nodes += 1
                    if top is None:
                        docs.append((value, pos))
                    elif is_list:
                        top.append(value)
                        top.item_pos.append(pos)
                    elif key is _NOT_YET:
                        return None  # a collection as a key
                    else:
                        top[key] = value
                        top.key_pos[key] = key_pos
                        top.value_pos[key] = pos
                        key = _NOT_YET
                    stack.append((top, is_list))
                    top, is_list = value, kind is sequence_start
                elif kind is mapping_end or kind is sequence_end:
                    # The parent's key took this collection as its value: none is waiting.
                    top, is_list = stack.pop()
                    if top is None:
                        break
                else:  # an alias
                    return None
            if nodes > MAX_EXPANDED_NODES:
                return None
            get_event()  # the document's end
    except (yaml.YAMLError, ValueError):
        return None
    finally:
        parser.dispose()
    return docs


def _composed_documents(text: str) -> list[tuple[Any, Pos]]:
    loader = _Loader(text)
    docs: list[tuple[Any, Pos]] = []
    chars = 0
    try:
        _guard_depth(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            pos = _mark(node)
            value, _, _, doc_chars = _Builder(pos, chars).build(node)
            docs.append((value, pos))
            chars += doc_chars
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", Pos(1, 1)) from None
    except RecursionError:
        raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", Pos(1, 1)) from None
    finally:
        loader.dispose()
    return docs


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    """The parser's complaint in plain words, at the line that needs the fix."""
    from reconciler.explain import YamlSpot, yaml_message  # only on the error path

    mark = exc.problem_mark or exc.context_mark
    context = exc.context_mark if exc.problem_mark else None
    pos = Pos(mark.line + 1, mark.column + 1) if mark else Pos(1, 1)
    spot = YamlSpot(
        problem=exc.problem or "",
        context=exc.context or "",
        line=pos.line,
        column=pos.column,
        context_line=context.line + 1 if context else None,
        context_column=context.column + 1 if context else None,
        text=text,
    )
    message, (line, column) = yaml_message(spot)
    return YamlProblem(f"invalid YAML: {message}", Pos(line, column))


# libyaml (YAML 1.1) also breaks lines at NEL, U+2028 and U+2029; editors and GitHub do not.
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_EDITOR_BREAK = re.compile("\r\n|[\r\n]")


def _editor_lines(text: str) -> Callable[[Pos], Pos] | None:
    """A map from libyaml's line:column to the editor's, or None when they are the same."""
    if text.isascii() or not any(ch in text for ch in "\x85\u2028\u2029"):
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


class Positions:
    """Where each part of one document stood, without its values: what a lean load keeps.

    The same answers as `position_of` on the tree it was made from, in a fraction of the
    memory: the paths are shared by every document of one shape (`Layouts`), and each
    document holds only its numbers.
    """

    __slots__ = ("_layout", "_numbers")

    def __init__(self, data: Any, layouts: Layouts) -> None:
        paths: list[tuple[Any, ...]] = []
        numbers = array("Q")  # (line << 32 | column) of each path's value, then of its key
        start = getattr(data, "pos", _START)
        _walk(data, (), start, start, paths, numbers)
        self._layout = layouts.of(tuple(paths))
        self._numbers = numbers

    def of(self, loc: tuple[Any, ...], *, key: bool = False) -> Pos:
        """As `position_of(data, loc, key=key)` would answer."""
        layout = self._layout
        for depth in range(len(loc), -1, -1):
            index = layout.get(loc[:depth])
            if index is not None:
                number = self._numbers[2 * index + (key and depth == len(loc) and depth > 0)]
                return Pos(number >> 32, number & 0xFFFFFFFF)
        return _START  # unreachable: the root's path () is in every layout


class Layouts:
    """The path -> index tables of a load's document shapes, one per shape."""

    def __init__(self) -> None:
        self._tables: dict[tuple[tuple[Any, ...], ...], dict[tuple[Any, ...], int]] = {}

    def of(self, paths: tuple[tuple[Any, ...], ...]) -> dict[tuple[Any, ...], int]:
        table = self._tables.get(paths)
        if table is None:
            table = self._tables[paths] = {path: i for i, path in enumerate(paths)}
        return table


def _walk(
    value: Any,
    path: tuple[Any, ...],
    pos: Pos,
    key_pos: Pos,
    paths: list[tuple[Any, ...]],
    numbers: array[int],
) -> None:
    paths.append(path)
    numbers.append(pos[0] << 32 | pos[1])
    numbers.append(key_pos[0] << 32 | key_pos[1])
    if isinstance(value, PosDict):
        for k, child in value.items():
            _walk(child, (*path, k), value.value_pos.get(k, pos), value.key_pos.get(k, pos),
                  paths, numbers)  # fmt: skip
    elif isinstance(value, PosList):
        items = value.item_pos
        for i, child in enumerate(value):
            at = items[i] if i < len(items) else pos
            _walk(child, (*path, i), at, at, paths, numbers)

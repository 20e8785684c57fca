"""The two ways a file is read agree: libyaml's events in one pass (the common file) and the
composed nodes (anchors, aliases, tags, merge keys, every error's wording).

Whatever the text, the one-pass reader either declines it (None) or returns exactly what the
composed path returns: the same values of the same types in the same order, at the same
line:column for every document, key, value and item. And the positions themselves are the
lines an editor shows, in nested mappings, sequences, aliased values and later documents, as
`schedctl validate` reports them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import yamlpos
from reconciler.loader import load_project, read_yaml_file
from reconciler.validate import validate_project
from reconciler.yamlpos import MAX_FILE_BYTES, Pos, PosDict, PosList, YamlProblem, load_documents

from .test_fuzz_loader import TOKENS

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def shape(value: Any) -> Any:
    """Everything a caller can see of a loaded value: types, order, positions."""
    if isinstance(value, PosDict):
        items = [
            (shape(k), value.key_pos[k], value.value_pos[k], shape(v)) for k, v in value.items()
        ]
        return ("map", value.pos, items)
    if isinstance(value, PosList):
        return ("seq", value.pos, value.item_pos, [shape(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def composed(text: str) -> list[tuple[Any, Pos]] | YamlProblem:
    try:
        return yamlpos._composed_documents(text)
    except YamlProblem as exc:
        return exc


def assert_agree(text: str) -> bool:
    """Whether the one-pass reader took `text`; fails if it took it and disagrees."""
    fast = yamlpos._plain_documents(text)
    slow = composed(text)
    if fast is None:
        return False
    assert not isinstance(slow, YamlProblem), (text, slow.message)
    assert [(shape(v), p) for v, p in fast] == [(shape(v), p) for v, p in slow], text
    return True


scalars = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["yes", "no", "on", "off", "10:30", "0o17", "0x1F", "1_000", ".inf", "~"]),
    st.sampled_from(["2026-01-01", "2026-01-01T09:00:00Z", "<<", "- a", "a: b", "#c", "'q'"]),
)
keys = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.none())
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def dumped(draw: st.DrawFn) -> str:
    """Valid YAML of random data in random styles, one or more documents."""
    documents = draw(st.lists(trees, min_size=1, max_size=3))
    return yaml.safe_dump_all(
        documents,
        default_flow_style=draw(st.sampled_from([False, True, None])),
        default_style=draw(st.sampled_from([None, "'", '"', "|"])),
        explicit_start=draw(st.booleans()),
        explicit_end=draw(st.booleans()),
        indent=draw(st.integers(2, 5)),
        width=draw(st.sampled_from([20, 80])),
        allow_unicode=draw(st.booleans()),
        sort_keys=False,
    )


def test_dumped_data_reads_the_same_both_ways() -> None:
    @SETTINGS
    @given(dumped())
    def run(text: str) -> None:
        assert_agree(text)

    run()


def test_token_soup_reads_the_same_both_ways_or_is_declined() -> None:
    @SETTINGS
    @given(st.lists(st.sampled_from(TOKENS), max_size=60))
    def run(tokens: list[str]) -> None:
        assert_agree("".join(tokens))

    run()


def test_schedule_files_take_the_one_pass_reader() -> None:
    """The examples (plain schedule files) are read in one pass, and read right."""
    paths = sorted(EXAMPLES.rglob("*.yaml"))
    assert paths
    for path in paths:
        assert assert_agree(path.read_text(encoding="utf-8")), path


DECLINED = {
    "anchor and alias": "a: &x [1, 2]\nb: *x\n",
    "tag": "a: !!str 1\n",
    "merge key": "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "duplicate key": "a: 1\na: 2\n",
    "duplicate by equality": "1: a\ntrue: b\n",  # True == 1
    "collection as a key": "? [a]\n: b\n",
    "bad value": "a: !!int x\n",
    "syntax error": "a: [1, 2\n",
    "deep": "[" * 70 + "]" * 70 + "\n",
    "merge key as a value": "a: <<\n",
    "integer too long to convert": "n: " + "9" * 5000 + "\n",
}


@pytest.mark.parametrize("text", DECLINED.values(), ids=DECLINED.keys())
def test_files_outside_the_common_case_are_left_to_the_composed_reader(text: str) -> None:
    assert yamlpos._plain_documents(text) is None
    try:
        expected = yamlpos._composed_documents(text)
    except YamlProblem as exc:
        with pytest.raises(YamlProblem) as got:
            load_documents(text)
        assert (got.value.message, got.value.pos) == (exc.message, exc.pos)
    else:
        assert [(shape(v), p) for v, p in load_documents(text)] == [
            (shape(v), p) for v, p in expected
        ]


def test_nested_positions() -> None:
    text = (
        "name: a\n"
        "schedule:\n"
        "  weekly:\n"
        "    at: '08:30'\n"
        "    days:\n"
        "      - mon\n"
        "      - [tue, {x: 1}]\n"
        "---\n"
        "\n"
        "- k: v\n"
        "  l: [1,\n"
        "      2]\n"
    )
    ((first, first_pos), (second, second_pos)) = load_documents(text)
    assert first_pos == (1, 1) and second_pos == (10, 1)
    weekly = first["schedule"]["weekly"]
    assert first.key_pos["schedule"] == (2, 1) and first.value_pos["schedule"] == (3, 3)
    assert weekly.key_pos["days"] == (5, 5) and weekly.value_pos["at"] == (4, 9)
    days = weekly["days"]
    assert days.pos == (6, 7) and days.item_pos == [(6, 9), (7, 9)]
    assert days[1].item_pos == [(7, 10), (7, 15)]
    assert days[1][1].value_pos["x"] == (7, 19)
    assert second[0].pos == (10, 3) and second[0].value_pos["l"] == (11, 6)
    assert second[0]["l"].item_pos == [(11, 7), (12, 7)]


def test_aliased_values_keep_the_anchor_positions() -> None:
    text = "common: &c\n  prompt: hi\n  n: 1\nuse:\n  - *c\n  - x: *c\n"
    ((value, _),) = load_documents(text)
    assert value["use"][0] is value["common"]
    # An alias is the anchored value itself: its problems are named where that value is.
    assert value["use"].item_pos == [(1, 9), (6, 5)]
    assert value["use"][1].value_pos["x"] == (1, 9)
    assert value["use"][1]["x"].value_pos["n"] == (3, 6)


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_errors_name_the_line_in_nested_aliased_and_later_documents(tmp_path: Path) -> None:
    write(tmp_path, "schedctl.yaml", "targets:\n  local: {platform: engine, sandbox: s.db}\n")
    (tmp_path / "schedules").mkdir()
    write(
        tmp_path / "schedules",
        "many.yaml",
        "name: ok-one\nschedule: {daily: '09:00'}\naction: {prompt: hi}\n"
        "---\n"
        "name: nested\n"
        "schedule:\n"
        "  weekly:\n"
        "    at: '08:30'\n"
        "    days:\n"
        "      - mon\n"
        "      - funday\n"  # line 11, column 9
        "action: {prompt: hi}\n"
        "---\n"
        "name: listed\n"
        "schedule: {daily: '09:00'}\n"
        "action: {prompt: hi}\n"
        "targets: [local, nowhere]\n",  # line 17, column 18
    )
    write(
        tmp_path / "schedules",
        "alias.yaml",
        "name: aliased\n"
        "schedule: &s {daily: '09:00', every: 15m}\n"  # line 2
        "action: {prompt: hi}\n"
        "overrides:\n"
        "  local: {max_retries: *s}\n",  # line 5, column 24
    )
    found = validate_project(load_project([str(tmp_path)], str(tmp_path / "schedctl.yaml")))
    spots = {(Path(d.file).name, d.line, d.column) for d in found if d.severity == "error"}
    assert ("many.yaml", 11, 9) in spots
    assert ("many.yaml", 17, 18) in spots
    assert ("alias.yaml", 2, 11) in spots
    assert len({d.file for d in found}) == 2


def test_reading_a_file_says_what_stat_and_read_would(tmp_path: Path) -> None:
    """The size is judged before a byte is read; what cannot be read says why."""
    at_limit = tmp_path / "at-limit.yaml"
    at_limit.write_bytes(b"name: x\nprompt: " + b"p" * (MAX_FILE_BYTES - 17) + b"\n")
    assert at_limit.stat().st_size == MAX_FILE_BYTES
    ((value, _),) = read_yaml_file(at_limit)[0]
    assert len(value["prompt"]) == MAX_FILE_BYTES - 17
    over = tmp_path / "over.yaml"
    over.write_bytes(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    cases = {
        over: f"file is {MAX_FILE_BYTES + 5} bytes, over the {MAX_FILE_BYTES}-byte limit "
        "for a schedule file",
        tmp_path / "gone.yaml": "cannot read: No such file or directory",
        tmp_path: "cannot read: Is a directory",
    }
    for path, message in cases.items():
        with pytest.raises(YamlProblem) as exc:
            read_yaml_file(path)
        assert (exc.value.message, exc.value.pos) == (message, (1, 1))


def paths_of(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths_of(v, (*path, i))
    return out


def test_kept_positions_answer_as_the_tree_does() -> None:
    """A lean load keeps `Positions` instead of the tree: every path, a path that runs past a
    scalar or off a mapping or list, key or value position: the same answer."""

    @SETTINGS
    @given(dumped(), st.lists(st.sampled_from(["name", "x", 0, 1, 7, -1, True]), max_size=3))
    def run(text: str, extra: list[Any]) -> None:
        layouts = yamlpos.Layouts()
        for data, _ in load_documents(text):
            kept = yamlpos.Positions(data, layouts)
            for path in paths_of(data):
                for loc in (path, (*path, *extra), path[:-1] + tuple(extra)):
                    for key in (False, True):
                        assert kept.of(loc, key=key) == yamlpos.position_of(data, loc, key=key)

    run()


def test_documents_of_one_shape_share_their_paths() -> None:
    layouts = yamlpos.Layouts()
    docs = load_documents("a: 1\nb: [x, y]\n---\na: 2\nb: [z, w]\n---\na: 3\n")
    first, second, third = (yamlpos.Positions(d, layouts) for d, _ in docs)
    assert first._layout is second._layout and first._layout is not third._layout
    assert second.of(("b", 1)) == Pos(5, 8)
    assert third.of(("b", 1)) == Pos(7, 1)  # no b: where the document starts

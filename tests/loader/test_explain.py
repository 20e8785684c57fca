"""reconciler.explain: the tables that turn validator and parser errors into sentences.

The corpus (tests/cases/invalid/) shows the messages in place; these tests hold the tables
themselves to account: every field has an entry, no wrong value of any kind leaks pydantic's
or libyaml's own words, every YAML rule is reached, and the did-you-mean helper picks well.
"""

from __future__ import annotations

import copy
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel, Field, ValidationError

from reconciler import explain
from reconciler.loader import _pydantic_diagnostics
from reconciler.model import Config, Schedule, check_timezone
from reconciler.yamlpos import MAX_DEPTH, PosDict, YamlProblem, load_documents

# Words of pydantic's and libyaml's that must never reach a user.
RAW = (
    "Input should",
    "String should",
    "List should",
    "Value error",
    "Field required",
    "Extra inputs",
    "did not find expected",
    "while scanning",
    "while parsing",
    "mapping values are not allowed",
    "could not find expected",
    "cannot start any token",
    "unconstructable",
    "for merging, but found",
)


def leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field path of a model: nested models, list items and mapping values (`*`) too."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        annotation = info.annotation
        plain = get_origin(annotation) in (list, dict)
        for arg in (annotation,) if plain else get_args(annotation) or (annotation,):
            if get_origin(arg) in (list, dict):
                item = get_args(arg)[-1]
                if item is not Any:
                    out.append(f"{path}.*")
                if isinstance(item, type) and issubclass(item, BaseModel):
                    out += leaf_paths(item, f"{path}.*.")
            elif isinstance(arg, type) and issubclass(arg, BaseModel):
                out += leaf_paths(arg, f"{path}.")
    return out


@pytest.mark.parametrize("model", [Schedule, Config], ids=lambda m: m.__name__)
def test_every_field_of_the_models_has_an_entry(model: type[BaseModel]) -> None:
    table = explain.FIELDS[model.__name__]
    missing = [p for p in dict.fromkeys(leaf_paths(model)) if p not in table]
    assert missing == []
    # ...and the table names no field that does not exist (a renamed field would go silent).
    paths = set(leaf_paths(model))
    stale = [p for p in table if p not in paths]
    assert stale == []


def test_field_path_stars_indices_and_mapping_keys() -> None:
    assert explain.field_path(Schedule, ("schedule", "weekly", "days", 3))[0] == (
        "schedule.weekly.days.*"
    )
    assert explain.field_path(Config, ("targets", "prod", "url"))[0] == "targets.*.url"
    assert explain.field_path(Schedule, ("overrides", "staging"))[0] == "overrides.*"
    assert explain.allowed_keys(Schedule, ("deliver",)) == ["channel", "target"]
    assert explain.allowed_keys(Config, ("targets", "prod")) == list(
        Config.model_fields["targets"].annotation.__args__[1].model_fields  # type: ignore[union-attr]
    )


WRONG: list[Any] = [None, True, 7, 2.5, "", "zz 9", [], ["a"], {}, {"x": 1}]
BASE: dict[str, Any] = {
    "name": "n",
    "schedule": {"cron": "0 9 * * *"},
    "action": {"prompt": "p"},
}


def place(path: str, value: Any) -> dict[str, Any]:
    """BASE with `value` at a dotted path (a last `*`: one list item, or one override)."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    if last == "*":
        *parents, last = parents
        value = {"local": value} if last == "overrides" else [value]
    node = doc
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return doc


def messages(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [d.message for d in _pydantic_diagnostics(exc, PosDict(data), "f.yaml", model)]
    return []


@pytest.mark.parametrize("path", sorted(explain.FIELDS["Schedule"]))
def test_no_wrong_value_of_any_kind_shows_validator_text(path: str) -> None:
    seen = 0
    for value in WRONG:
        for message in messages(Schedule, place(path, value)):
            seen += 1
            assert not any(raw in message for raw in RAW), (path, value, message)
    assert seen, f"{path}: no value was wrong, the test proves nothing"


def test_config_values_of_the_wrong_kind_are_explained() -> None:
    for data in (
        {"owner": "Acme Team"},
        {"schedules": "schedules/*.yaml"},
        {"defaults": {"targets": "prod"}},
        {"targets": {"prod": {"platform": 5, "url": True, "verify_tls": "no"}}},
        {"targets": []},
    ):
        found = messages(Config, data)
        assert found and not any(raw in m for m in found for raw in RAW), found
    assert messages(Config, {"owner": "Acme Team"}) == [
        "owner: expected lower-case letters, digits, '.', '_' and '-', at most 63 characters "
        "and starting with a letter or digit, e.g. owner: acme-schedules, not 'Acme Team' "
        "(did you mean 'acme-team'?)"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"schedule": {"every": 15}}, "schedule.every: expected a duration like 15m, 2h, 1d or 1h30m, not 15 (a number needs a unit: 15m for minutes, 15s for seconds)"),
        ({"name": "Morning Digest"}, "name: expected lower-case letters, digits and '-', at most 63 characters and not starting with '-', e.g. morning-digest, not 'Morning Digest' (did you mean 'morning-digest'?)"),
        ({"schedule": {"daily": "9:30pm"}}, 'schedule.daily: expected a time of day HH:MM, 00:00 to 23:59, e.g. daily: "09:00", not \'9:30pm\' (did you mean "21:30"?)'),
        ({"schedule": "*/15 * * * *"}, 'schedule: expected a mapping with one of cron, every, at, daily, weekly or monthly, e.g. schedule: {cron: "0 9 * * *"}, not \'*/15 * * * *\' (did you mean schedule: {cron: "*/15 * * * *"}?)'),
        ({"schedule": {"every": "2 hours"}}, "schedule.every: expected a duration like 15m, 2h, 1d or 1h30m, not '2 hours' (did you mean 2h?)"),
        ({"enabled": "no"}, "enabled: expected true or false, not 'no' (write false: schedctl reads YAML 1.2, where no is text)"),
        ({"history": "Fresh"}, "history: expected keep (one conversation per schedule) or fresh (a new one per run), not 'Fresh' (did you mean 'fresh'?)"),
        ({"max_retries": 3.0}, "max_retries: expected a whole number from 0 to 1000, e.g. max_retries: 3, not 3.0 (did you mean 3?)"),
        ({"targets": "prod staging"}, "targets: expected a list of the config's target names, e.g. targets: [prod], not 'prod staging' (did you mean [prod, staging]?)"),
        ({"title": "x" * 300}, "title: expected a display name of 1 to 200 characters, e.g. Morning digest, not 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (300 characters)"),
        ({"schedule": None}, 'schedule: expected a mapping with one of cron, every, at, daily, weekly or monthly, e.g. schedule: {cron: "0 9 * * *"}, not an empty value'),
        ({"shedule": {}}, "unknown key 'shedule' (did you mean 'schedule'?)"),
        ({"overrides": {5: {}}}, "overrides: key 5 is not a name: keys are text, e.g. title"),
    ],
)  # fmt: skip
def test_sentences(data: dict[str, Any], expected: str) -> None:
    assert expected in messages(Schedule, {**BASE, **data})


def test_missing_keys_say_what_goes_there() -> None:
    assert messages(Schedule, {"name": "n", "action": {"prompt": "p"}}) == [
        "missing required key 'schedule' (a mapping with one of cron, every, at, daily, weekly "
        'or monthly, e.g. schedule: {cron: "0 9 * * *"})'
    ]


class Plugin(BaseModel):
    """A model the table knows nothing of: the error type still gives a sentence."""

    model_config = {"extra": "forbid", "strict": True}
    size: int = Field(ge=1)
    mode: str = Field(pattern="^[ab]$")
    tags: list[str] = Field(min_length=1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"size": 0, "mode": "a", "tags": ["x"]}, "size: expected a number of at least 1, not 0"),
        ({"size": "2", "mode": "a", "tags": ["x"]}, "size: expected a whole number, not '2' (write 2 without quotes)"),
        ({"size": 1, "mode": "c", "tags": ["x"]}, "mode: expected text matching ^[ab]$, not 'c'"),
        ({"size": 1, "mode": "a", "tags": []}, "tags: expected a list of at least 1 item(s), not an empty list"),
        ({"size": 1, "mode": "a", "tags": ["x"], "sise": 1}, "unknown key 'sise' (did you mean 'size'?)"),
    ],
)  # fmt: skip
def test_a_model_the_table_lacks_gets_the_error_types_words(
    data: dict[str, Any], expected: str
) -> None:
    assert expected in messages(Plugin, data)


def test_suggest_prefers_a_case_slip_then_the_closest() -> None:
    assert explain.suggest("europe/rome", ["Europe/Rome", "Europe/Romania"]) == "Europe/Rome"
    assert explain.suggest("prd", ["local", "prod", "staging"]) == "prod"
    assert explain.suggest("xyz", ["local", "prod"]) is None
    assert explain.suggest("prod", ["prod"]) is None  # nothing to correct
    assert explain.hint("stagin", ["prod", "staging"]) == " (did you mean 'staging'?)"
    assert explain.hint("qa", ["prod"], "the config has: prod") == " (the config has: prod)"
    assert explain.target_hint("x", []) == " (the config has: none)"


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("Europe/Roma", "did you mean 'Europe/Rome'?"),
        ("europe/rome", "did you mean 'Europe/Rome'?"),
        ("AMERICA/NEW_YORK", "did you mean 'America/New_York'?"),
        ("Asia/Tokio", "did you mean 'Asia/Tokyo'?"),
        ("Europe/Milano", "no such place in Europe"),  # not Europe/Minsk
        ("utc", "did you mean 'UTC'?"),
        ("PST", "an abbreviation, not a zone: name a place, e.g. America/Los_Angeles"),
        ("+02:00", "write Etc/GMT-2 for a fixed offset"),
        ("Mars/Olympus_Mons", "expected an IANA name like Europe/Rome"),
    ],
)
def test_zone_hints(zone: str, hint: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_timezone(zone)
    assert str(exc.value).startswith(f"unknown time zone {zone!r} (") and hint in str(exc.value)


def test_shown_values_look_like_yaml_and_stay_short() -> None:
    assert [explain.shown(v) for v in (None, True, 15, "", "a", [], [1], {}, {"a": 1})] == [
        "an empty value", "true", "15", "empty text", "'a'", "an empty list", "a list",
        "an empty mapping", "a mapping",
    ]  # fmt: skip
    assert explain.shown("line one\nline two") == "'line one...' (17 characters)"
    assert len(explain.shown("y" * 10_000)) < 70
    assert explain.shown(10**60) == "a number of 61 digits"


# --- YAML ------------------------------------------------------------------------------------

# (rule's problem, text, expected line:column, words the message must hold). Each runs through
# libyaml and, with a comment holding many brackets first, through PyYAML's parser too.
SNIPPETS = [
    ("alias", "name: a\nschedule:\n  cron: * 9 * * *\n", (3, 9), 'quote the cron expression, e.g. cron: "* 9 * * *"'),
    ("alias", "title: */x\n", (1, 8), "read as a YAML alias"),
    ("anchor", "title: & x\n", (1, 8), "read as a YAML anchor"),
    ("undefined alias", "schedule: *common\n", (1, 11), "*common refers to no anchor"),
    ("colon in a value", "action:\n  prompt: Note: be brief\n", (2, 15), 'e.g. prompt: "Note: be brief"'),
    ("key under a value", "name: a\n  title: b\n", (2, 3), "indented under line 1 (`name: a`), which already has a value"),
    ("text, then a key", "just text\nname: a\n", (1, 1), "line 1 (`just text`) is text without a key"),
    ("bad indentation", 'schedule:\n  cron: "x"\n    timezone: UTC\n', (3, 5), "`timezone: UTC` is indented 4 spaces, but the keys of its mapping (line 2) are indented 2"),
    ("list among keys", "name: a\n- b\n", (2, 1), "a list item (`- b`) among the keys of the mapping from line 1"),
    ("key among items", "targets:\n  - a\n  b: 1\n", (3, 3), "`b: 1` is among the items of the list from line 2"),
    ("after a quote", "title: 'a' b\n", (1, 12), "text after the closing quote"),
    ("unclosed flow", "schedule: {cron: x\nname: a\n", (1, 11), "this { is not closed: end it with }"),
    ("unclosed quote", 'title: "abc\nname: x\n', (1, 8), 'the text opened with " here is never closed'),
    ("no colon", "action:\n  prompt: |\n  text\n", (3, 3), "`text` is neither `key: value` nor a list item"),
    ("tab", "name: a\nschedule:\n\tcron: x\n", (3, 1), "YAML indents with spaces only"),
    ("reserved start", "title: @team\n", (1, 8), "a value cannot start with '@': put it in quotes, e.g. title: \"@team\""),
    ("document end", "name: a\n... more\n", (2, 5), "text after `...`, which ends the document"),
    ("directive", "%FOO bar\n---\nname: a\n", (1, 5), "a line starting with % is a YAML directive"),
    ("escape", 'prompt: "C:\\path"\n', (1, 9), "write \\\\ for a backslash"),
    ("no content", "targets: [a, , b]\n", (1, 14), "a value is missing here, inside { } or [ ]"),
    ("tag", "title: !<x\n", (1, 8), "a value starting with ! is read as a YAML tag"),
]  # fmt: skip


@pytest.mark.parametrize("parser", ["libyaml", "pyyaml"])
@pytest.mark.parametrize(("what", "text", "where", "words"), SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_yaml_problems_in_plain_words(
    parser: str, what: str, text: str, where: tuple[int, int], words: str
) -> None:
    # Many brackets (here in a last comment) send a file through PyYAML's parser first.
    pad = "\n# " + "[" * (MAX_DEPTH + 1) + "\n" if parser == "pyyaml" else ""
    with pytest.raises(YamlProblem) as exc:
        load_documents(text + pad)
    problem = exc.value
    assert problem.message.startswith("invalid YAML: ") and words in problem.message
    assert not any(raw in problem.message for raw in RAW), problem.message
    assert (problem.pos.line, problem.pos.column) == where, what


def rules_hit(text: str) -> set[int]:
    """The YAML_RULES (by index) that explain `text`'s error in libyaml and in PyYAML."""
    hit: set[int] = set()
    for loader in (yaml.CSafeLoader, yaml.SafeLoader):
        try:
            list(yaml.compose_all(text, Loader=loader))
        except yaml.MarkedYAMLError as exc:
            for i, (problem, context, _) in enumerate(explain.YAML_RULES):
                if (exc.problem or "").startswith(problem) and context in (exc.context or ""):
                    hit.add(i)
                    break
    return hit


def test_every_yaml_rule_is_reached() -> None:
    """Each rule explains at least one real parser error: none is dead."""
    texts = [s[1] for s in SNIPPETS] + [
        "targets: [a, b",  # a flow cut off by the end of the file
        "a:\n  b: 1\n \tc: 2\n",  # a tab where indentation was expected
    ]
    reached = set().union(*(rules_hit(text) for text in texts))
    unreached = [rule[:2] for i, rule in enumerate(explain.YAML_RULES) if i not in reached]
    assert unreached == []

"""Fuzzing the loader and the validator: whatever a file holds, `load_project` and
`validate_project` return diagnostics, never raise, and every diagnostic names a file and a
line and column inside it.

Three sources of input: YAML-ish text (indicators, tabs, anchors, tags, odd bytes), documents
mutated from the examples (wrong types, random keys, random crons, zones, intervals, times and
instants, targets and overrides), and mutated configs. The default runs are small; the
`slow`-marked ones run many more examples of the same properties.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import Diagnostic
from reconciler.loader import load_project
from reconciler.validate import validate_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
# How editors and GitHub count lines (NEL, U+2028 and U+2029 are no line breaks there).
EDITOR_BREAK = re.compile(rb"\r\n|[\r\n]")
CONFIG = """\
owner: fuzz
defaults: {timezone: Europe/Rome, targets: [local, troop]}
targets:
  local: {platform: engine, sandbox: sb.db}
  troop: {platform: aitroop, sandbox: tb.db}
"""

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=1000)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "schedctl.yaml").write_text(CONFIG, encoding="utf-8")
    return directory


def check_file(workdir: Path, content: bytes, config: bytes | None = None) -> list[Diagnostic]:
    """Load and validate one schedule file; assert the invariants on what comes back."""
    schedule = workdir / "fuzz.yaml"
    schedule.write_bytes(content)
    config_path = workdir / ("schedctl.yaml" if config is None else "fuzz-config.yaml")
    if config is not None:
        config_path.write_bytes(config)
    project = load_project([str(schedule)], str(config_path))
    found = validate_project(project, now=NOW)
    line_counts = {}
    for path in (schedule, config_path):
        data = path.read_bytes()
        line_counts[path.resolve()] = len(EDITOR_BREAK.findall(data)) + 1
    for d in found:
        assert d.severity in ("error", "warning"), d
        assert d.message.strip(), d
        assert d.line >= 1 and d.column >= 1, d
        where = Path(d.file).resolve()
        assert where in line_counts, d  # the schedule file or the config, nothing else
        # At most one past the last line: an empty document at the very end of the stream.
        assert d.line <= line_counts[where] + 1, d
    return found


# --- YAML-ish text ----------------------------------------------------------------------------

TOKENS = [
    *" \t\n\r:-[]{},#&*!|>'\"%@`?~\\",
    "  ", "    ", "- ", ": ", "---\n", "...\n", "<<: ", "*a", "&a ", "!!str ", "!!int ",
    "!!bool ", "!!float ", "!!seq ", "!!map ", "!!binary ", "!!python/object:os.system ",
    "!tag ", "name", "schedule", "cron", "every", "at", "daily", "weekly", "monthly", "days",
    "day", "timezone", "anchor", "action", "prompt", "app", "id", "input", "targets",
    "overrides", "local", "troop", "enabled", "true", "null", "0", "9", "60", "2031",
    '"0 9 * * *"', "15m", "09:00", "mon", "Europe/Rome", "\u00e9", "\u4e09", "\ufeff",
    "\u2028", "\x85", "\x00", "\x7f", "9" * 30,
]  # fmt: skip
VALID = (
    b'name: fuzz-valid\nschedule: {cron: "0 9 * * 1-5", timezone: UTC}\n'
    b"action:\n  prompt: Say hello.\n"
)


@st.composite
def yamlish(draw: st.DrawFn) -> bytes:
    """Token soup, sometimes spliced into a valid schedule so parsing gets past line one."""
    text = "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=60)))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(VALID)))
        data = VALID[:at] + data + VALID[at:]
    return data


def test_yamlish_text_never_raises(workdir: Path) -> None:
    @FAST
    @given(yamlish())
    def run(content: bytes) -> None:
        check_file(workdir, content)

    run()


def test_random_bytes_never_raise(workdir: Path) -> None:
    @FAST
    @given(st.binary(max_size=300))
    def run(content: bytes) -> None:
        check_file(workdir, content)

    run()


# --- documents mutated from the examples -------------------------------------------------------


def example_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((EXAMPLES / "schedules").rglob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


BASES = example_documents()
ZONES = [
    "UTC", "Europe/Rome", "America/New_York", "Pacific/Kiritimati", "Australia/Lord_Howe",
    "Pacific/Apia", "Etc/GMT+12", "Asia/Kathmandu", "EST5EDT", "Mars/Olympus", "", "utc",
    "europe/rome", "posix/Europe/Rome", "right/UTC", "localtime", "Factory", "../etc/passwd",
    "Europe/Rome\x00", "+02:00", "CET ", " UTC",
]  # fmt: skip
CRON_FIELDS = [
    "*", "*/5", "*/0", "0", "1", "7", "15", "23", "29", "30", "31", "59", "60", "1-5", "5-1",
    "1,15", "0-59/15", "MON-FRI", "mon", "sun,sat", "jan", "JAN-DEC", "feb", "L", "?", "1#2",
    "W", "H", "-1", "99999999999999999999", "", "٣",
]  # fmt: skip
MACROS = ["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight",
          "@reboot", "@fortnightly", "@"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
crons = st.one_of(
    st.lists(st.sampled_from(CRON_FIELDS), min_size=0, max_size=7).map(" ".join),
    st.sampled_from(MACROS),
    st.text(max_size=30),
)
instants = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59),
        timezones=st.none() | st.timezones(),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2031-02-30T09:00",
            "2031-06-30T23:59:60Z",
            "tomorrow",
            "2031-01-15",
        ]
    ),
)
durations = st.one_of(
    st.from_regex(r"\A([0-9]{1,4}d)?([0-9]{1,3}h)?([0-9]{1,4}m)?([0-9]{1,6}s)?\Z"),
    st.from_regex(r"\A[0-9]{10,25}[dhms]\Z"),
    st.text(max_size=10),
)
times = st.one_of(st.from_regex(r"\A[0-9]{1,2}:[0-9]{1,2}\Z"), st.text(max_size=6), scalars)
weekdays = st.one_of(
    st.integers(-2, 9),
    st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "sunday", "Mon", "x"]),
    st.booleans(),
)
schedules = st.one_of(
    st.fixed_dictionaries({"cron": crons}),
    st.fixed_dictionaries({"every": durations}, optional={"anchor": instants}),
    st.fixed_dictionaries({"at": instants}),
    st.fixed_dictionaries({"daily": times}),
    st.fixed_dictionaries(
        {"weekly": st.fixed_dictionaries({"at": times, "days": st.lists(weekdays, max_size=8)})}
    ),
    st.fixed_dictionaries(
        {"monthly": st.fixed_dictionaries({"at": times, "day": st.integers(-1, 40) | scalars})}
    ),
    st.dictionaries(
        st.sampled_from(["cron", "every", "at", "daily", "weekly", "monthly", "anchor", "x"]),
        json_like,
        max_size=3,
    ),
).flatmap(
    lambda spec: st.one_of(
        st.just(spec),
        st.sampled_from(ZONES).map(lambda zone: {**spec, "timezone": zone}),
    )
)
KEYS = ["name", "title", "description", "enabled", "schedule", "action", "deliver", "history",
        "max_retries", "delete_after_run", "targets", "overrides", "unknown", "scheduel"]  # fmt: skip
targets = st.lists(st.sampled_from(["local", "troop", "prod", ""]), max_size=3)
overrides = st.dictionaries(
    st.sampled_from(["local", "troop", "prod"]),
    st.one_of(
        st.fixed_dictionaries({}, optional={"schedule": schedules, "enabled": json_like}),
        st.dictionaries(st.sampled_from(KEYS), json_like, max_size=2),
        json_like,
    ),
    max_size=2,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> list[Any]:
    """One to three documents, each an example with a few keys replaced or added."""
    docs: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        doc = dict(draw(st.sampled_from(BASES)))
        for _ in range(draw(st.integers(1, 4))):
            key = draw(st.sampled_from(KEYS))
            kind = draw(st.sampled_from(["schedule", "targets", "overrides", "any", "drop"]))
            if kind == "drop":
                doc.pop(key, None)
            elif kind == "schedule":
                doc["schedule"] = draw(schedules)
            elif kind == "targets":
                doc["targets"] = draw(targets)
            elif kind == "overrides":
                doc["overrides"] = draw(overrides)
            else:
                doc[key] = draw(json_like)
        docs.append(doc if draw(st.integers(0, 9)) else draw(json_like))
    return docs


def dump(docs: list[Any]) -> bytes:
    return yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False).encode("utf-8")


def test_mutated_examples_never_raise(workdir: Path) -> None:
    @FAST
    @given(mutated_documents())
    def run(docs: list[Any]) -> None:
        check_file(workdir, dump(docs))

    run()


def test_every_schedule_form_with_random_values_never_raises(workdir: Path) -> None:
    @FAST
    @given(schedules, st.sampled_from(["local", "troop"]))
    def run(schedule: dict[str, Any], target: str) -> None:
        doc = {"name": "fuzz", "schedule": schedule, "action": {"prompt": "x"}}
        check_file(workdir, dump([{**doc, "targets": [target]}]))

    run()


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(["owner", "schedules", "defaults", "targets", "extra"]))
        if key == "defaults":
            config["defaults"] = {
                "timezone": draw(st.sampled_from(ZONES)),
                "targets": draw(targets),
            }
        elif key == "targets":
            config["targets"] = draw(
                st.dictionaries(
                    st.sampled_from(["local", "troop", "prod", "bad name", ""]),
                    st.fixed_dictionaries(
                        {"platform": st.sampled_from(["engine", "aitroop", "dexter", ""])},
                        optional={
                            "sandbox": st.text(max_size=5),
                            "url": st.sampled_from(["https://x.example", "ftp://x", ""]),
                            "token_env": st.sampled_from(["TOKEN", "1BAD", ""]),
                        },
                    )
                    | json_like,
                    max_size=3,
                )
            )
        else:
            config[key] = draw(json_like)
    return config


def test_mutated_configs_never_raise(workdir: Path) -> None:
    @FAST
    @given(mutated_configs(), st.sampled_from(BASES))
    def run(config: dict[str, Any], doc: dict[str, Any]) -> None:
        check_file(workdir, dump([doc]), config=dump([config]))

    run()


# --- the same properties, many more examples -------------------------------------------------


@pytest.mark.slow
def test_many_more_inputs_never_raise(workdir: Path) -> None:
    @SLOW
    @given(
        st.one_of(
            yamlish(),
            st.binary(max_size=500),
            mutated_documents().map(dump),
        )
    )
    def run(content: bytes) -> None:
        check_file(workdir, content)

    run()


@pytest.mark.slow
def test_many_more_schedules_never_raise(workdir: Path) -> None:
    @SLOW
    @given(schedules, st.sampled_from(["local", "troop"]))
    def run(schedule: dict[str, Any], target: str) -> None:
        doc = {"name": "fuzz", "schedule": schedule, "action": {"prompt": "x"}}
        check_file(workdir, dump([{**doc, "targets": [target]}]))

    run()

"""The committed JSON schemas agree with schedctl: check-jsonschema (what editors and CI hooks
run) accepts every example and every "semantic" invalid case, and rejects every "schema" case.

check-jsonschema reads one YAML document per file, so multi-document files are split into one
temporary file per document first. All schedule files go through one check-jsonschema process,
all configs through another. That the committed schemas equal the models' output is
tests/loader/test_foundation.py's drift test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.loader.test_invalid_cases import CASES, Case

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
CONFIG_NAMES = ("schedctl.yaml", "schedctl.yml")


def split_documents(text: str) -> list[str]:
    """The text of each document of a YAML stream (the whole text when it does not parse)."""
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return [text]
    documents: list[str] = []
    start = 0
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            start = event.start_mark.index
        elif isinstance(event, yaml.DocumentEndEvent):
            documents.append(text[start : event.end_mark.index])
    return documents or [text]


@dataclass
class Verdicts:
    """check-jsonschema's verdict on each original file: ok, invalid (schema) or unparseable."""

    pieces: dict[Path, Path] = field(default_factory=dict)  # file given to the tool -> original

    def add(self, path: Path, scratch: Path) -> None:
        text = path.read_text(encoding="utf-8")
        documents = split_documents(text)
        if len(documents) == 1:
            self.pieces[path] = path
            return
        for index, document in enumerate(documents):
            piece = scratch / f"{len(self.pieces)}-doc{index}.yaml"
            piece.write_text(document, encoding="utf-8")
            self.pieces[piece] = path

    def run(self, schema: str) -> dict[Path, set[str]]:
        """{original file: {verdict of each of its documents}}, one check-jsonschema process."""
        verdicts: dict[Path, set[str]] = {original: set() for original in self.pieces.values()}
        if not self.pieces:
            return verdicts
        result = subprocess.run(
            [
                sys.executable, "-m", "check_jsonschema",
                "--schemafile", str(SCHEMAS / schema), "-o", "json",
                *[str(p) for p in self.pieces],
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stdout + result.stderr
        report = json.loads(result.stdout)
        bad: dict[str, str] = {}
        for error in report.get("errors", []):
            bad[error["filename"]] = "invalid"
        for error in report.get("parse_errors", []):
            bad[error["filename"]] = "unparseable"
        for piece, original in self.pieces.items():
            verdicts[original].add(bad.get(str(piece), "ok"))
        return verdicts


def schedule_files(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if p.name not in CONFIG_NAMES]


def config_files(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if p.name in CONFIG_NAMES]


CHECKED = [c for c in CASES if c.level in ("schema", "semantic")]
# Where the schema and schedctl disagree today; strict: the test fails once they agree.
# Cases where the schema and the models are known to disagree (none today: `at` and `anchor`
# without a UTC offset are valid to both, read in the schedule's zone).
KNOWN_DISAGREEMENTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, set[str]]:
    """Every example and every schema/semantic case file, judged by check-jsonschema."""
    scratch = tmp_path_factory.mktemp("documents")
    examples = sorted(EXAMPLES.rglob("*.yaml"))
    case_files = [path for case in CHECKED for path in case.files()]
    schedules, configs = Verdicts(), Verdicts()
    for path in schedule_files([*examples, *case_files]):
        schedules.add(path, scratch)
    for path in config_files([*examples, *case_files]):
        configs.add(path, scratch)
    return {
        **schedules.run("schedule.schema.json"),
        **configs.run("config.schema.json"),
    }


def test_every_example_is_accepted(verdicts: dict[Path, set[str]]) -> None:
    examples = sorted(EXAMPLES.rglob("*.yaml"))
    assert len(examples) >= 10
    assert any(len(split_documents(p.read_text())) > 1 for p in examples)  # splitting is tested
    for path in examples:
        assert verdicts[path] == {"ok"}, f"{path.relative_to(ROOT)}: {verdicts[path]}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=case.stem,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[case.stem])]
            if case.stem in KNOWN_DISAGREEMENTS
            else [],
        )
        for case in CHECKED
    ],
)
def test_case_level_matches_the_schema(case: Case, verdicts: dict[Path, set[str]]) -> None:
    """ "schema" cases: the schema alone rejects a document. "semantic": it accepts them all."""
    judged = {path: verdicts[path] for path in case.files()}
    if case.level == "semantic":
        assert all(v == {"ok"} for v in judged.values()), judged
    else:
        assert any("invalid" in v for v in judged.values()), judged
        assert not any("unparseable" in v for v in judged.values()), judged


def test_split_documents_keeps_each_document_whole() -> None:
    text = "# head\na: 1\n---\nb: [1,\n  2]\n---\n---\nc: |\n  --- not a marker\n"
    documents = split_documents(text)
    assert [yaml.safe_load(d) for d in documents] == [
        {"a": 1},
        {"b": [1, 2]},
        None,
        {"c": "--- not a marker\n"},
    ]

"""The invalid-input corpus (tests/cases/invalid/): every case fails `schedctl validate` with
exactly the diagnostics its `.expected` file lists, in every output format, with no traceback.

Most runs go through the CLI entry point in-process (fast); a batch run over the whole corpus,
a few single cases and the generated huge inputs run as real processes, the way CI runs them.
The corpus layout and the `.expected` format are described in tests/cases/invalid/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main as cli_main
from reconciler.yamlpos import MAX_DEPTH, MAX_FILE_BYTES
from tests.conftest import run_cli

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "invalid"
SHARED_CONFIG = CASES_DIR / "schedctl.yaml"
LEVELS = ("syntax", "schema", "semantic")
LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning): (?P<message>.+)$"
)


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    column: int
    severity: str
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"

    def github(self) -> str:
        def escape(value: str, prop: bool = False) -> str:
            value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            return value.replace(":", "%3A").replace(",", "%2C") if prop else value

        props = f"file={escape(self.file, True)},line={self.line},col={self.column}"
        return f"::{self.severity} {props}::{escape(self.message)}"

    def key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)


@dataclass(frozen=True)
class Case:
    stem: str
    level: str
    what: str
    expected: tuple[Expected, ...]

    @property
    def input(self) -> Path:
        directory = CASES_DIR / self.stem
        return directory if directory.is_dir() else CASES_DIR / f"{self.stem}.yaml"

    @property
    def is_dir(self) -> bool:
        return self.input.is_dir()

    @property
    def own_config(self) -> bool:
        return self.is_dir and (self.input / "schedctl.yaml").is_file()

    def files(self) -> list[Path]:
        """The case's input files (a directory case's config included)."""
        if not self.is_dir:
            return [self.input]
        return sorted(p for p in self.input.rglob("*") if p.is_file())

    def command(self, fmt: str) -> tuple[Path, list[str]]:
        """(working directory, arguments) of `schedctl validate` for this case."""
        if self.own_config:
            return self.input, ["validate", ".", "--format", fmt]
        if self.is_dir:
            return self.input, ["--config", "../schedctl.yaml", "validate", ".", "--format", fmt]
        return CASES_DIR, [
            "--config",
            "schedctl.yaml",
            "validate",
            self.input.name,
            "--format",
            fmt,
        ]

    @property
    def errors(self) -> list[Expected]:
        return [e for e in self.expected if e.severity == "error"]

    @property
    def warnings(self) -> list[Expected]:
        return [e for e in self.expected if e.severity == "warning"]


def parse_expected(path: Path) -> Case:
    level = what = ""
    expected: list[Expected] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        if raw.startswith("# level:"):
            level = raw.removeprefix("# level:").strip()
        elif raw.startswith("#"):
            what = what or raw.removeprefix("#").strip()
        else:
            match = LINE.match(raw)
            assert match, f"{path.name}: not a diagnostic line: {raw!r}"
            expected.append(
                Expected(
                    match["file"],
                    int(match["line"]),
                    int(match["column"]),
                    match["severity"],
                    match["message"],
                )
            )
    return Case(path.stem, level, what, tuple(expected))


CASES = [parse_expected(p) for p in sorted(CASES_DIR.glob("*.expected"))]
BY_STEM = {case.stem: case for case in CASES}


def run_in_process(
    case: Case, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """`schedctl ...` through the CLI's entry point in this process: (exit code, stdout+stderr)."""
    cwd, args = case.command(fmt)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    captured = capsys.readouterr()
    code = exc.value.code
    assert isinstance(code, int), code
    return code, captured.out + captured.err


def check_json(case: Case, output: str) -> None:
    report = json.loads(output)
    assert report["valid"] is False
    errors = sorted((e["file"], e["line"], e["column"], e["message"]) for e in report["errors"])
    assert errors == sorted(e.key() for e in case.errors)
    warnings = {(w["file"], w["line"], w["column"], w["message"]) for w in report["warnings"]}
    assert {w.key() for w in case.warnings} <= warnings


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_text(case: Case, output: str) -> None:
    lines = output.splitlines()
    for expected in case.expected:
        assert expected.text() in lines
    # The summary counts the errors, the files they are in, and the files checked (a one-file
    # case: the file and the shared config).
    found = [m for line in lines[:-1] if (m := LINE.match(line))]
    warnings = sum(m["severity"] == "warning" for m in found)
    in_files = plural(len({m["file"] for m in found}), "file")
    summary = f"{plural(len(case.errors), 'error')}, {plural(warnings, 'warning')} in {in_files}"
    assert lines[-1].startswith(summary + " ("), lines[-1]
    if not case.is_dir:
        assert lines[-1].endswith("(2 files checked)"), lines[-1]


def check_github(case: Case, output: str) -> None:
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    assert sorted(errors) == sorted(e.github() for e in case.errors)
    for warning in case.warnings:
        assert warning.github() in lines
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)


# --- the corpus itself ------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    """Enough cases of each kind, each with an input, a level and at least one error."""
    assert len(CASES) >= 100
    for case in CASES:
        assert case.level in LEVELS, f"{case.stem}: level {case.level!r}"
        assert case.what, f"{case.stem}: no description"
        assert case.errors, f"{case.stem}: no expected error"
        assert case.input.exists(), f"{case.stem}: no input next to the .expected"
    levels = {level: sum(c.level == level for c in CASES) for level in LEVELS}
    assert levels["syntax"] + levels["schema"] >= 60, levels  # malformed input
    assert levels["semantic"] >= 40, levels
    # Every input in the directory belongs to a case (none is silently skipped).
    inputs = {p.stem for p in CASES_DIR.iterdir() if p.suffix in (".yaml", ".yml") or p.is_dir()}
    assert inputs - {"schedctl"} == set(BY_STEM)


def test_expected_files_name_lines_that_exist() -> None:
    """An expectation points at a line of the file (or just past a final newline)."""
    for case in CASES:
        base = case.input if case.is_dir else CASES_DIR
        for expected in case.expected:
            path = base / expected.file
            assert path.is_file(), f"{case.stem}: {expected.file} does not exist"
            data = path.read_bytes()
            if b"\x00" in data or not data.strip():
                continue
            lines = data.count(b"\n") + 1
            assert 1 <= expected.line <= lines, f"{case.stem}: {expected.text()}"


# --- every case, every format -----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(
    case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt, check in (("json", check_json), ("text", check_text), ("github", check_github)):
        code, output = run_in_process(case, fmt, monkeypatch, capsys)
        assert "Traceback" not in output, output
        assert code == 1, f"{fmt}: exit {code}\n{output}"
        check(case, output)


# --- real processes ---------------------------------------------------------------------------


def test_whole_corpus_in_one_process() -> None:
    """The shared config's globs pick up every one-file case: the errors are their union.

    Cases do not disturb each other (no name is shared between files), so one run reports
    exactly what the single runs report.
    """
    result = run_cli(["validate", ".", "--format", "json"], cwd=CASES_DIR)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    errors = sorted((e["file"], e["line"], e["column"], e["message"]) for e in report["errors"])
    expected = sorted(e.key() for case in CASES if not case.is_dir for e in case.errors)
    assert errors == expected


@pytest.mark.parametrize(
    ("stem", "fmt"),
    [
        ("syntax-binary", "github"),
        ("syntax-deep-block", "text"),
        ("cron-six-fields", "github"),
        ("aitroop-several", "text"),
        ("dir-duplicate-across-files", "json"),
        ("config-unknown-platform", "github"),
    ],
)
def test_single_cases_as_real_processes(stem: str, fmt: str) -> None:
    case = BY_STEM[stem]
    cwd, args = case.command(fmt)
    result = run_cli(args, cwd=cwd)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    {"json": check_json, "text": check_text, "github": check_github}[fmt](case, result.stdout)


def test_generated_huge_and_deep_inputs(tmp_path: Path) -> None:
    """Inputs too big to commit: refused with a clear message, never read whole, no crash.

    200,000 levels of `- ` used to overflow the C stack of libyaml's composer (a segfault, so
    this runs in a separate process).
    """
    (tmp_path / "schedctl.yaml").write_text(
        'schedules: ["*.yaml"]\ntargets:\n  local: {platform: engine, sandbox: sb.db}\n'
    )
    huge = 50 * 1024 * 1024
    line = b"# padding padding padding padding padding padding padding padding padding\n"
    with open(tmp_path / "huge.yaml", "wb") as f:
        f.write(line * (huge // len(line)))
        f.write(b"#" * (huge % len(line)))
    assert (tmp_path / "huge.yaml").stat().st_size == huge

    def padded(name: str, size: int) -> bytes:
        schedule = f'name: {name}\nschedule: {{daily: "09:00"}}\naction: {{prompt: ok}}\n#'
        return schedule.encode().ljust(size - 1, b"#") + b"\n"

    (tmp_path / "at-limit.yaml").write_bytes(padded("at-limit", MAX_FILE_BYTES))  # valid
    (tmp_path / "over-limit.yaml").write_bytes(padded("over-limit", MAX_FILE_BYTES + 1))
    (tmp_path / "deep-block.yaml").write_text("targets:\n" + "- " * 200_000 + "local\n")
    (tmp_path / "deep-flow.yaml").write_text("targets: " + "[" * 500_000 + "\n")
    (tmp_path / "deep-mapping.yaml").write_text(
        "".join(f"{' ' * i}k{i}:\n" for i in range(500)) + " " * 500 + "bottom\n"
    )

    result = run_cli(["validate", ".", "--format", "json"], cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = {
        (e["file"], e["line"], e["column"], e["message"])
        for e in json.loads(result.stdout)["errors"]
    }
    limit = f"over the {MAX_FILE_BYTES}-byte limit for a schedule file"
    deep = f"nesting deeper than {MAX_DEPTH} levels"
    assert errors == {
        ("huge.yaml", 1, 1, f"file is {huge} bytes, {limit}"),
        ("over-limit.yaml", 1, 1, f"file is {MAX_FILE_BYTES + 1} bytes, {limit}"),
        # the 64th nested sequence starts at column 2*63+1, under the top mapping
        ("deep-block.yaml", 2, 2 * (MAX_DEPTH - 1) + 1, deep),
        ("deep-flow.yaml", 1, len("targets: ") + MAX_DEPTH, deep),
        ("deep-mapping.yaml", MAX_DEPTH + 1, MAX_DEPTH + 1, deep),
    }

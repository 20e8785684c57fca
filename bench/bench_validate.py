"""Validating files vs check-jsonschema; `schedctl --help` vs check-jsonschema --version.

    python bench/bench_validate.py [COUNT]

    validate 5,000 files          <= 0.15x check-jsonschema on the same files (issue 19)
    validate 100 x 100 fleet      <= 1/3 of check-jsonschema on the 10,000 expanded files
    validate 20,000 / 50,000      linear: the time per file within 1.25x of 5,000's (a
                                  check-jsonschema run on 50,000 files takes minutes, so the
                                  5,000-file run is the reference there)
    schedctl --help               <= 0.20x check-jsonschema --version

The reconciler package is byte-compiled first, as an install leaves it (see common.py).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Result,
    compile_package,
    median_time,
    print_results,
    python_cmd,
    run_command,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "schedule.schema.json"
FORMS = [
    'cron: "0 9 * * 1-5"\n  timezone: Europe/Rome',
    "every: 15m",
    'daily: "09:00"',
    'weekly: {at: "08:30", days: [mon, wed, fri]}',
    'monthly: {at: "09:00", day: 1}',
    'cron: "*/30 * * * *"',
]


def generate(directory: Path, count: int) -> list[Path]:
    rng = random.Random(7)
    (directory / "schedctl.yaml").write_text(
        "owner: bench\ndefaults: {targets: [prod]}\ntargets:\n"
        "  prod: {platform: engine, url: 'https://engine.example.com', instance: acme}\n"
    )
    files = []
    sched = directory / "schedules"
    sched.mkdir()
    for i in range(count):
        path = sched / f"s{i:05d}.yaml"
        path.write_text(
            f"# yaml-language-server: $schema=../schemas/schedule.schema.json\n"
            f"name: task-{i}\ntitle: Task number {i}\n"
            f"description: Generated schedule {i} for the benchmark.\n"
            f"schedule:\n  {rng.choice(FORMS)}\n"
            f"action:\n  prompt: Summarise what happened in area {i} and flag anomalies.\n"
            f"history: keep\nmax_retries: {rng.randint(1, 5)}\n"
        )
        files.append(path)
    return files


SCALES = (20_000, 50_000)  # validated against the 5,000-file run's time per file
LINEAR = 1.25


# One template per (form, spread) in turn; every form has H in it.
FLEET_FORMS = [
    'cron: "H H(6-18) * * 1-5"',
    'daily: "H(6-18):H"',
    'weekly: {at: "H:H", days: [mon, thu]}',
    'monthly: {at: "H(8-11):H", day: DAY}',
]


PLAIN_FORMS = [
    'cron: "17 9 * * 1-5"',
    'daily: "09:17"',
    'weekly: {at: "17:17", days: [mon, thu]}',
    'monthly: {at: "09:17", day: DAY}',
]


def generate_fleet(directory: Path, templates: int, items: int) -> None:
    """`templates` template files of `items` items each, spread over ten engine instances."""
    targets = "".join(
        f"  i{n}: {{platform: engine, url: 'https://engine.example.com', instance: team-{n}}}\n"
        for n in range(10)
    )
    (directory / "schedctl.yaml").write_text(
        f"owner: bench\ndefaults: {{timezone: Europe/Rome, targets: [i0]}}\ntargets:\n{targets}"
    )
    sched = directory / "schedules"
    sched.mkdir()
    for t in range(templates):
        form = FLEET_FORMS[t % len(FLEET_FORMS)].replace("DAY", str(t % 28 + 1))
        # Block mappings: a file with more than 64 brackets is depth-scanned in pure Python.
        listed = "".join(
            f"  - slug: c{i:03d}\n    name: Customer {i}\n    channel: C{t:03d}{i:05d}\n"
            for i in range(items)
        )
        (sched / f"fleet{t:03d}.yaml").write_text(
            f"# yaml-language-server: $schema=../schemas/schedule.schema.json\n"
            f"fleet: report{t}\ndescription: Report {t} for every customer\nfor_each:\n{listed}"
            f"template:\n  name: 'r{t}-{{{{ item.slug }}}}'\n"
            f"  title: '{{{{ item.name }}}}: report {t}'\n"
            f"  description: Generated report {t} for {{{{ item.name }}}}.\n"
            f"  schedule:\n    {form}\n"
            f"  action:\n    prompt: Summarise what happened for {{{{ item.name }}}} in area {t}.\n"
            f"  deliver: {{channel: slack, target: '{{{{ item.channel }}}}'}}\n"
            f"  targets: [i{t % 10}]\n  spread: {'true' if t % 2 else 'false'}\n"
        )


def generate_expanded(directory: Path, templates: int, items: int) -> list[Path]:
    """The same schedules as plain files (plain times), for check-jsonschema."""
    files = []
    for t in range(templates):
        form = PLAIN_FORMS[t % len(PLAIN_FORMS)].replace("DAY", str(t % 28 + 1))
        for i in range(items):
            path = directory / f"r{t:03d}-{i:03d}.yaml"
            path.write_text(
                f"name: r{t}-c{i:03d}\ntitle: 'Customer {i}: report {t}'\n"
                f"description: Generated report {t} for Customer {i}.\n"
                f"schedule:\n  {form}\n"
                f"action:\n  prompt: Summarise what happened for Customer {i} in area {t}.\n"
                f"deliver: {{channel: slack, target: 'C{t:03d}{i:05d}'}}\n"
                f"targets: [i{t % 10}]\nspread: {'true' if t % 2 else 'false'}\n"
            )
            files.append(path)
    return files


def script(name: str) -> str:
    """The command installed beside this interpreter (the environment under test), else PATH's."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name) or name


def run_fleet(templates: int = 100, items: int = 100) -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="schedctl-bench-fleet-"))
    try:
        (tmp / "repo").mkdir()
        (tmp / "expanded").mkdir()
        generate_fleet(tmp / "repo", templates, items)
        files = generate_expanded(tmp / "expanded", templates, items)
        check = script("check-jsonschema")
        ours = median_time(
            lambda: run_command(python_cmd("-m", "reconciler", "validate", str(tmp / "repo"))), 3
        )
        theirs = median_time(
            lambda: run_command([check, "--schemafile", str(SCHEMA), *map(str, files)]), 3
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    count = templates * items
    return [
        Result(f"validate {templates} templates x {items} items", ours, theirs, "s", 1 / 3,
               f"check-jsonschema, {count} expanded files"),
    ]  # fmt: skip


def _validate_time(directory: Path, repeat: int) -> float:
    return median_time(
        lambda: run_command(python_cmd("-m", "reconciler", "validate", str(directory))), repeat
    )


def run(count: int = 5000, scales: tuple[int, ...] = SCALES) -> list[Result]:
    compile_package()
    check = script("check-jsonschema")
    tmp = Path(tempfile.mkdtemp(prefix="schedctl-bench-"))
    try:
        files = generate(tmp, count)
        ours = _validate_time(tmp, 3)
        theirs = median_time(
            lambda: run_command([check, "--schemafile", str(SCHEMA), *map(str, files)]), 3
        )
        schedctl = script("schedctl")
        help_cmd = [schedctl, "--help"]
        help_time = median_time(lambda: run_command(help_cmd), 15)
        version_time = median_time(lambda: run_command([check, "--version"]), 15)
        bare_time = median_time(lambda: run_command(python_cmd("-c", "pass")), 15)
        click_time = median_time(lambda: run_command(python_cmd("-c", "import click")), 15)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = [
        Result(f"validate {count} files", ours, theirs, "s", 0.15, "check-jsonschema, same files"),
        Result("schedctl --help", help_time, version_time, "s", 0.2, "check-jsonschema --version"),
        # For information (no issue figure): what the CLI adds to a bare interpreter start.
        Result("schedctl --help (info)", help_time, bare_time, "s", float("inf"), "python -c pass"),
        # The floor of a click command line: an interpreter that imports click and stops.
        Result(
            "python -c 'import click' (info)",
            click_time,
            version_time,
            "s",
            float("inf"),
            "check-jsonschema --version",
        ),
    ]
    per_file = ours / count * 1e3
    for scale in scales:
        tmp = Path(tempfile.mkdtemp(prefix="schedctl-bench-"))
        try:
            generate(tmp, scale)
            seconds = _validate_time(tmp, 2)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        results.append(
            Result(f"validate {scale} files, per file", seconds / scale * 1e3, per_file, "ms",
                   LINEAR, f"validate {count} files, per file")
        )  # fmt: skip
    return [*results, *run_fleet()]


if __name__ == "__main__":
    print_results(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))

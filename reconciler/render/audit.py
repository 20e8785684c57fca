"""Audit reports as a terminal table, JSON, an issue body, or GitHub annotations.

    FORMATS[name](report, fail_on=KINDS, color=False) -> str

Slots are shown in the schedule's zone (`Wed 06-03 09:00 BST`), as `next` and `status` show
times; the JSON keeps UTC ISO instants. Text from platforms (titles, error messages) passes
through render.text.printable, and is escaped for markdown and workflow commands.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from rich.markup import escape

from reconciler import __version__
from reconciler.audit import KINDS, AuditReport, Finding, TargetAudit, TaskHealth, counts
from reconciler.render.diagnostics import _escape_github
from reconciler.render.live import HEALTH_STYLES
from reconciler.render.plan import GITHUB_COMMENT_LIMIT
from reconciler.render.tables import natural_key, render_table, zone_of
from reconciler.render.text import clip, printable

Renderer = Callable[..., str]
SLOTS_IN_TEXT = 1  # slots named in a text row; the rest are counted
SLOTS_IN_MARKDOWN = 10
TASK_COLUMNS = ("key", "health", "ran", "runs", "manual", "errors", "late p50/p95", "runs/day",
                "tokens/day", "note")  # fmt: skip


def slot_text(epoch: float, zone: str) -> str:
    """A slot in the schedule's zone: `Wed 06-03 09:00 BST`."""
    local = datetime.fromtimestamp(epoch, timezone.utc).astimezone(zone_of(zone))
    return local.strftime("%a %m-%d %H:%M %Z")


def _slots(f: Finding, shown: int) -> str:
    if not f.slots:
        return "-"
    named = ", ".join(slot_text(s, f.zone) for s in f.slots[:shown])
    more = f.slot_count - min(shown, len(f.slots))
    return named + (f" +{more}" if more > 0 else "")


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.{digits}f}{unit}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}s" if value < 120 else f"{value / 60:.0f}m"


def _window(report: AuditReport) -> str:
    days = (report.until - report.since) / 86_400
    start = datetime.fromtimestamp(report.since, timezone.utc)
    end = datetime.fromtimestamp(report.until, timezone.utc)
    return f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC ({_number(days)} days)"


def _kinds_line(found: Sequence[Finding], fail_on: Sequence[str]) -> str:
    by_kind = counts(found)
    parts = [f"{n} {kind}" for kind, n in by_kind.items() if n]
    return ", ".join(parts)


def summary_line(report: AuditReport, fail_on: Sequence[str]) -> str:
    """What a reader reads first: the kinds found, or that all is well."""
    tasks = sum(1 for t in report.targets for task in t.tasks if task.health != "-")
    failed = [t.target for t in report.targets if t.error]
    found = report.findings
    if found:
        failing = len(report.failing(fail_on))
        line = f"{_kinds_line(found, fail_on)} in {tasks} task(s)"
        line += f"; {failing} at or above --fail-on ({','.join(fail_on)})" if failing else ""
    else:
        line = f"healthy: {tasks} task(s), every slot ran"
    if failed:
        line += f"; not audited: {', '.join(failed)} (see the errors)"
    return line


def _cost_line(t: TargetAudit) -> str:
    days = t.days or 1
    manual = sum(task.manual for task in t.tasks)
    tokens = t.tokens
    words = f"{t.runs} runs ({manual} manual), {_number(t.runs / days)} runs/day"
    if tokens is not None:
        words += f", {_number(tokens)} tokens ({_number(tokens / days)}/day)"
    return words


def _task_rows(t: TargetAudit, color: bool) -> list[list[str]]:
    rows = []
    for task in sorted(t.tasks, key=lambda x: natural_key(x.key)):
        health = task.health
        style = HEALTH_STYLES.get(health, "yellow" if health != "-" else "")
        cell = f"[{style}]{health}[/]" if style and color else escape(health)
        late = f"{_seconds(task.lateness_p50)}/{_seconds(task.lateness_p95)}"
        rows.append(
            [
                escape(printable(task.key)),
                cell,
                f"{task.ran}/{task.expected}",
                str(task.runs),
                str(task.manual),
                str(task.errors),
                late,
                _number(task.runs_per_day),
                _number(task.tokens_per_day),
                escape(printable(task.note)) if task.note else "",
            ]
        )
    return rows


def render_text(report: AuditReport, *, fail_on: Sequence[str] = (), color: bool = False) -> str:
    """Per target: a line, the findings table, each task's health and cost; a summary last."""
    blocks = [f"schedctl audit: {_window(report)}"]
    for t in report.targets:
        head = f"target {t.target} ({printable(t.where or t.platform)})"
        if t.error:
            blocks.append(f"{head}: ERROR: {printable(t.error)}")
            continue
        blocks.append(f"{head}: {len(t.tasks)} task(s)\n  cost: {_cost_line(t)}")
        if t.findings:
            rows = [
                [
                    f.kind,
                    escape(printable(f.key)),
                    escape(_slots(f, SLOTS_IN_TEXT)),
                    escape(printable(f.message)),
                ]
                for f in sorted(t.findings, key=lambda f: (KINDS.index(f.kind), natural_key(f.key)))
            ]
            blocks.append(
                render_table(
                    None,
                    ("finding", "key", "slot", "what"),
                    rows,
                    color=color,
                    keep=("finding", "key", "slot"),
                    squeeze="what",
                )
            )
        if t.tasks:
            rows = _task_rows(t, color)
            noted = any(task.note for task in t.tasks)  # the column only when some has one
            blocks.append(
                render_table(
                    None,
                    TASK_COLUMNS if noted else TASK_COLUMNS[:-1],
                    rows if noted else [row[:-1] for row in rows],
                    color=color,
                    keep=("key", "health", "ran", "late p50/p95"),
                    squeeze="note",
                )
            )
        blocks.extend(f"note: {printable(n)}" for n in t.notes)
    blocks.append(summary_line(report, fail_on))
    return "\n".join(blocks)


def render_json(report: AuditReport, *, fail_on: Sequence[str] = (), color: bool = False) -> str:
    data = report.to_dict()
    data["fail_on"] = list(fail_on)
    data["failing"] = len(report.failing(fail_on))
    return json.dumps(data, indent=2, ensure_ascii=False)


def _md(text: str, limit: int = 300) -> str:
    return html.escape(printable(clip(text, limit)))


def _source(f: Finding | TaskHealth) -> str:
    return f" · `{_md(f.file)}:{f.line}`" if f.file else ""


def _finding_block(f: Finding) -> str:
    slots = _slots(f, SLOTS_IN_MARKDOWN)
    line = (
        f"- **{f.kind}** <code>{_md(f.key, 100)}</code> ({_md(f.title, 100)}, target "
        f"<code>{_md(f.target, 100)}</code>{_source(f)}): {_md(f.message)}"
    )
    if f.slots:
        line += f"<br>slots ({_md(f.zone)}): {html.escape(slots)}"
    if not f.runs:
        return line + "\n"
    rows = ["| run | task | started | slot | status | error |", "|---|---|---|---|---|---|"]
    for r in f.runs[:SLOTS_IN_MARKDOWN]:
        rows.append(
            f"| <code>{_md(r.run_id, 60)}</code> | <code>{_md(r.task_id, 60)}</code> "
            f"| {slot_text(r.started, f.zone)} "
            f"| {slot_text(r.slot, f.zone) if r.slot is not None else '-'} "
            f"| {_md(r.status, 20)} | {_md(r.error or '', 200)} |"
        )
    more = len(f.runs) - SLOTS_IN_MARKDOWN
    if more > 0:
        rows.append(f"\n{more} more run(s): `schedctl audit --format json` lists them.")
    return (
        f"{line}\n  <details><summary>evidence</summary>\n\n"
        + "\n".join(rows)
        + "\n\n  </details>\n"
    )


def render_markdown(
    report: AuditReport,
    *,
    fail_on: Sequence[str] = (),
    color: bool = False,
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """An issue body under `limit` characters: what was found first, then each target's costs."""
    head = ["### schedctl schedule health", "", f"**{_md(summary_line(report, fail_on))}**", ""]
    head.append(f"Window: {_window(report)}.")
    head.append("")
    kinds = [k for k in KINDS if any(t.findings and counts(t.findings)[k] for t in report.targets)]
    head += [
        "| target | tasks | "
        + " | ".join(kinds)
        + (" | " if kinds else "")
        + "runs/day | tokens/day |"
    ]
    head += ["|---" * (4 + len(kinds)) + "|"]
    for t in report.targets:
        if t.error:
            head.append(f"| `{_md(t.target)}` | error: {_md(t.error)} |" + " |" * (2 + len(kinds)))
            continue
        by = counts(t.findings)
        days = t.days or 1
        tokens = "-" if t.tokens is None else _number(t.tokens / days)
        cells = [str(len(t.tasks)), *(str(by[k]) for k in kinds), _number(t.runs / days), tokens]
        head.append(f"| `{_md(t.target)}` | " + " | ".join(cells) + " |")
    footer = f"\n<sub>schedctl {__version__} · schedctl audit</sub>\n"
    text = "\n".join(head) + "\n"
    ordered = sorted(
        report.findings,
        key=lambda f: (f.kind not in fail_on, KINDS.index(f.kind), natural_key(f.key)),
    )
    if ordered:
        text += "\n#### Findings\n\n"
    for index, f in enumerate(ordered):
        block = _finding_block(f)
        if len(text) + len(block) + len(footer) + 200 > limit:
            text += (
                f"\n_{len(ordered) - index} more finding(s) left out: an issue holds at most "
                f"{limit:,} characters. Run `schedctl audit` for all of them._\n"
            )
            break
        text += block
    costs = ["", "<details><summary>Runs and tokens per task</summary>", ""]
    costs += ["| target | key | health | ran | runs/day | tokens/day | late p50/p95 |"]
    costs += ["|---|---|---|---|---|---|---|"]
    for t in report.targets:
        for task in sorted(t.tasks, key=lambda x: natural_key(x.key)):
            costs.append(
                f"| `{_md(t.target)}` | `{_md(task.key, 100)}` | {task.health} "
                f"| {task.ran}/{task.expected} | {_number(task.runs_per_day)} "
                f"| {_number(task.tokens_per_day)} "
                f"| {_seconds(task.lateness_p50)}/{_seconds(task.lateness_p95)} |"
            )
    costs += ["", "</details>", ""]
    block = "\n".join(costs)
    if len(text) + len(block) + len(footer) <= limit:
        text += block
    notes = [f"- target `{_md(t.target)}`: {_md(n)}\n" for t in report.targets for n in t.notes]
    for note in notes:
        if len(text) + len(note) + len(footer) > limit:
            break
        text += note
    return text + footer


def render_github(report: AuditReport, *, fail_on: Sequence[str] = (), color: bool = False) -> str:
    """One workflow command per finding, on its schedule's line: an error for the kinds
    --fail-on names, a warning for the others; a target that failed is an error on the run."""
    lines = []
    for t in report.targets:
        if t.error:
            lines.append(f"::error title=schedctl audit::{_escape_github(printable(t.error))}")
    for f in report.findings:
        level = "error" if f.kind in fail_on else "warning"
        props = (
            f"file={_escape_github(f.file, prop=True)},line={f.line}," if f.file and f.line else ""
        )
        props += f"title={_escape_github(f'schedctl audit: {f.kind}', prop=True)}"
        slots = f" ({_slots(f, 3)})" if f.slots else ""
        message = f"{f.key} [{f.target}]: {f.message}{slots}"
        lines.append(f"::{level} {props}::{_escape_github(printable(message))}")
    return "\n".join(lines)


FORMATS: dict[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "github": render_github,
}

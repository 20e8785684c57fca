"""Plans and apply results as text (Terraform-like `+ ~ -`), JSON, or a pull-request comment."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from reconciler.apply import ApplyResult, ChangeResult
from reconciler.plan import ACTIONS, Change, Plan, TargetPlan

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "conflict": "!", "duplicate": "="}
COLORS = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "conflict": "magenta",
    "duplicate": "cyan",
}
GITHUB_COMMENT_LIMIT = 65_536


def value_text(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _symbol(change: Change) -> str:
    return "-" if change.action == "duplicate" and change.delete else SYMBOLS[change.action]


def _style(text: str, action: str, color: bool, *, bold: bool = False) -> str:
    return click.style(text, fg=COLORS.get(action), bold=bold or None) if color else text


def summary_line(counts: Mapping[str, int]) -> str:
    return (
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['conflict']} conflict(s), {counts['duplicate']} duplicate(s)"
    )


# ---------------------------------------------------------------------------------------------
# text


def change_lines(change: Change, color: bool) -> list[str]:
    symbol = _symbol(change)
    head = f"  {symbol} {change.key or '?'}  {change.title!r}"
    if change.remote_id:
        head += f"  (id {change.remote_id})"
    if change.source:
        head += f"  {change.source}"
    lines = [_style(head, change.action, color, bold=True)]
    if change.action in ("conflict", "duplicate") or (change.action == "delete" and change.reason):
        lines.append(f"      {change.reason}")
    if change.action == "update":
        for f in change.fields:
            text = f"      {f.path}: {value_text(f.before)} -> {value_text(f.after)}"
            lines.append(_style(text, change.action, color))
    elif change.action == "create":
        lines.extend(
            _style(f"      {f.path}: {value_text(f.after)}", change.action, color)
            for f in change.fields
        )
    return lines


def render_text(plan: Plan, *, color: bool = False) -> str:
    lines: list[str] = []
    for target in plan.targets:
        head = f"target {target.target} ({target.where or target.platform})"
        if target.error:
            lines.append(f"{head}: ERROR: {target.error}")
            continue
        lines.append(f"{head}: {summary_line(target.summary)}; {target.in_sync} in sync")
        for change in target.changes:
            lines.extend(change_lines(change, color))
        if target.orphans:
            keys = ", ".join(sorted({c.key or "?" for c in target.orphans}))
            lines.append(
                f"  note: {len(target.orphans)} object(s) of owner {plan.owner!r} are no longer "
                f"in the repository ({keys}); --prune deletes them"
            )
        lines.append("")
    if plan.pending:
        lines.append(f"Plan: {summary_line(plan.summary)}.")
    elif not plan.failed:
        in_sync = sum(t.in_sync for t in plan.targets)
        lines.append(f"No changes: {in_sync} schedule(s) in sync on {len(plan.targets)} target(s).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# json


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# markdown


def _fires(document: Mapping[str, Any] | None, now: datetime) -> tuple[list[datetime], float]:
    """Next three fire times and runs per day of a neutral document (nothing when unknown)."""
    if not document or not document.get("schedule") or document.get("enabled") is False:
        return [], 0.0
    from pydantic import ValidationError

    from reconciler import timing
    from reconciler.model import ScheduleSpec

    try:
        spec = ScheduleSpec.model_validate(document["schedule"])
        trigger = timing.trigger_for(spec, spec.timezone or "UTC", created_at=now)
        return trigger.fires(now, 3), trigger.runs_per_day()
    except (ValidationError, ValueError, TypeError):
        return [], 0.0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = html.escape(value_text(value)).replace("|", "&#124;").replace("\n", "<br>")
    return f"<code>{text}</code>"


def _when(fires: Sequence[datetime]) -> str:
    return ", ".join(f.strftime("%Y-%m-%d %H:%M %Z").strip() for f in fires) or "none"


def _rate(value: float) -> str:
    return f"{value:+.2f}".rstrip("0").rstrip(".") if value else "0"


def markdown_change(target: TargetPlan, change: Change, now: datetime) -> tuple[str, float]:
    """One `<details>` block, and the change in estimated runs per day."""
    # What fires now, and what will fire once applied (conflicts and kept duplicates stay).
    after = change.after
    if change.action == "delete" or change.delete:
        after = None
    elif change.action in ("conflict", "duplicate"):
        after = change.before
    before_fires, before_rate = _fires(change.before, now)
    after_fires, after_rate = _fires(after, now)
    delta = after_rate - before_rate
    title = html.escape(change.title)
    summary = (
        f"<code>{_symbol(change)}</code> {change.action} <b>{html.escape(change.key or '?')}</b> "
        f"— {title} (target <code>{html.escape(target.target)}</code>)"
    )
    out = [f"<details><summary>{summary}</summary>", ""]
    if change.reason:
        out += [html.escape(change.reason), ""]
    if change.source:
        out += [f"Source: `{change.source}`", ""]
    if change.fields:
        out += ["| field | before | after |", "|---|---|---|"]
        out += [f"| `{f.path}` | {_cell(f.before)} | {_cell(f.after)} |" for f in change.fields]
        out.append("")
    out += [
        f"Next fires before: {_when(before_fires)}  ",
        f"Next fires after: {_when(after_fires)}  ",
        f"Estimated runs per day: {_rate(delta)}",
        "",
        "</details>",
        "",
    ]
    return "\n".join(out), delta


def render_markdown(plan: Plan, now: datetime, *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """A pull-request comment: summary table, one `<details>` per change, under `limit` chars."""
    head = ["### schedctl plan", "", "| target | " + " | ".join(ACTIONS) + " | in sync |"]
    head.append("|---" * (len(ACTIONS) + 2) + "|")
    blocks: list[str] = []
    added = removed = 0.0
    for target in plan.targets:
        if target.error:
            head.append(
                f"| `{target.target}` | error: {html.escape(target.error)} |" + " |" * len(ACTIONS)
            )
            continue
        counts = target.summary
        head.append(
            f"| `{target.target}` | "
            + " | ".join(str(counts[a]) for a in ACTIONS)
            + f" | {target.in_sync} |"
        )
        for change in target.changes:
            block, delta = markdown_change(target, change, now)
            blocks.append(block)
            added += max(delta, 0.0)
            removed += min(delta, 0.0)
    head.append("")
    if not plan.pending:
        head.append("No changes." if not plan.failed else "Nothing planned: a listing failed.")
    else:
        head.append(
            f"Estimated runs per day: {_rate(added)} added, {_rate(removed)} removed "
            f"(net {_rate(added + removed)})."
        )
    head.append("")
    text = "\n".join(head)
    reserve = 300  # room for the note below
    for index, block in enumerate(blocks):
        if len(text) + len(block) + 1 + reserve > limit:
            left = len(blocks) - index
            text += (
                f"\n_{left} more change(s) left out: a comment holds at most {limit:,} characters. "
                "Run `schedctl plan` for the full plan._\n"
            )
            break
        text += "\n" + block
    return text


# ---------------------------------------------------------------------------------------------
# apply results


RESULT_WORDS = {"done": "ok", "adopted": "ok (adopted)", "failed": "FAILED", "skipped": "skipped"}


def result_line(result: ChangeResult, color: bool = False) -> str:
    change = result.change
    line = f"{_symbol(change)} {result.target}/{change.key or '?'} {change.action}: {RESULT_WORDS[result.status]}"
    if result.message:
        line += f" - {result.message}"
    if result.status == "failed" and color:
        return click.style(line, fg="red", bold=True)
    return _style(line, change.action, color) if result.ok else line


def render_apply(result: ApplyResult, *, elapsed: float | None = None) -> str:
    """What was done, then the one summary line a log ends with."""
    counts: dict[str, int] = {}
    for r in result.results:
        if r.ok:
            counts[r.change.action] = counts.get(r.change.action, 0) + 1
    done = ", ".join(
        f"{counts.get(a, 0)} {w}"
        for a, w in (("create", "created"), ("update", "updated"), ("delete", "deleted"))
    )
    dup = sum(1 for r in result.results if r.ok and r.change.action == "duplicate")
    if dup:
        done += f", {dup} duplicate(s) deleted"
    failed = len(result.failed)
    done += f", {failed} failed"
    if elapsed is not None:
        done += f" in {elapsed:.1f} s"
    lines: list[str] = []
    conflicts = sum(1 for r in result.results if r.change.action == "conflict")
    if failed:
        lines.append(
            f"{failed} change(s) failed; run apply again once the cause is fixed: it converges."
        )
    if conflicts:
        lines.append(
            f"{conflicts} conflict(s) left alone: `schedctl import --adopt` takes such objects over."
        )
    lines.extend(f"error: {e}" for e in result.errors)
    lines.append(f"Apply {'complete' if result.ok else 'incomplete'}: {done}")
    return "\n".join(lines)

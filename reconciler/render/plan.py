"""Plans and apply results as text (Terraform-like `+ ~ -`), JSON, or a pull-request comment."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from reconciler.plan import ACTIONS, Change, FieldChange, Plan, TargetPlan, UnreadableObject
from reconciler.reconcile import ApplyResult, ChangeResult
from reconciler.render import Formats
from reconciler.render.text import clip, printable

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "conflict": "!", "duplicate": "="}
COLORS = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "conflict": "magenta",
    "duplicate": "cyan",
}
GITHUB_COMMENT_LIMIT = 65_536
REASON_LIMIT = 1_000  # a reason is ours, but quotes ids and names a server chose


def value_text(value: Any) -> str:
    """A field's value as shown in the text and markdown plans: JSON, escaped, at most
    VALUE_LIMIT characters (the JSON plan keeps it whole)."""
    if value is None:
        return "(unset)"
    return printable(clip(json.dumps(value, ensure_ascii=False, sort_keys=True)))


def _title_text(title: str) -> str:
    return printable(clip(repr(title)))


def _id_text(remote_id: str) -> str:
    return printable(clip(remote_id))


def _reason_text(reason: str) -> str:
    return printable(clip(reason, REASON_LIMIT))


def unreadable_line(item: UnreadableObject) -> str:
    """A note on a live object schedctl could not read (and so leaves alone)."""
    what = f"id {printable(item.id)}" + (f" {item.title!r}" if item.title else "")
    if item.marker:
        what += f" (marker {printable(item.marker)})"
    return f"unreadable live object {what}: {item.reason}; left alone"


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


def _field_text(change: Change, f: FieldChange) -> str:
    if change.action == "create":
        return f"{printable(f.path)}: {value_text(f.after)}"
    return f"{printable(f.path)}: {value_text(f.before)} -> {value_text(f.after)}"


def _field_key(f: FieldChange) -> tuple[str, str, str]:
    return (f.path, value_text(f.before), value_text(f.after))


def change_lines(
    change: Change,
    color: bool,
    *,
    indent: str = "  ",
    skip: frozenset[tuple[str, str, str]] = frozenset(),
    source: bool = True,
) -> list[str]:
    symbol = _symbol(change)
    head = f"{indent}{symbol} {printable(change.key or '?')}  {_title_text(change.title)}"
    if change.remote_id:
        head += f"  (id {_id_text(change.remote_id)})"
    if change.source and source:
        head += f"  {printable(change.source)}"
    lines = [_style(head, change.action, color, bold=True)]
    if change.action in ("conflict", "duplicate") or (change.action == "delete" and change.reason):
        lines.append(f"{indent}    {_reason_text(change.reason)}")
    if change.action in ("update", "create"):
        lines.extend(
            _style(f"{indent}    {_field_text(change, f)}", change.action, color)
            for f in change.fields
            if _field_key(f) not in skip
        )
    return lines


def group_changes(changes: Sequence[Change]) -> list[list[Change]]:
    """The changes of one template with one symbol together, where its first one stands; the
    others alone."""
    out: list[list[Change]] = []
    groups: dict[tuple[str, str], list[Change]] = {}
    for change in changes:
        if change.template is None:
            out.append([change])
            continue
        key = (_symbol(change), change.template.name)
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
            out.append(group)
        group.append(change)
    return out


def shared_fields(group: Sequence[Change]) -> frozenset[tuple[str, str, str]]:
    """The field changes every member of a group makes alike."""
    common = {_field_key(f) for f in group[0].fields}
    for change in group[1:]:
        common &= {_field_key(f) for f in change.fields}
    return frozenset(common)


def group_head(group: Sequence[Change]) -> str:
    """`+ 30 × digest[*] (customer digests)`"""
    ref = group[0].template
    assert ref is not None
    head = f"{_symbol(group[0])} {len(group)} × {ref.group}"
    return head + (f" ({ref.description})" if ref.description else "")


def group_lines(group: Sequence[Change], color: bool) -> list[str]:
    """A template's changes: one line for the lot, what they all change, then each one."""
    if len(group) == 1 or group[0].template is None:
        return [line for change in group for line in change_lines(change, color)]
    first = group[0]
    head = f"  {group_head(group)}"
    sources = {c.source for c in group}
    if len(sources) == 1 and first.source:
        head += f"  {first.source}"
    lines = [_style(head, first.action, color, bold=True)]
    shared = shared_fields(group)
    lines.extend(
        _style(f"      {_field_text(first, f)}", first.action, color)
        for f in first.fields
        if _field_key(f) in shared
    )
    for change in group:
        lines.extend(
            change_lines(change, color, indent="      ", skip=shared, source=len(sources) > 1)
        )
    return lines


def render_text(plan: Plan, *, color: bool = False) -> str:
    lines: list[str] = []
    for target in plan.targets:
        head = f"target {target.target} ({printable(target.where or target.platform)})"
        if target.error:
            lines.append(f"{head}: ERROR: {printable(target.error)}")
            continue
        lines.append(f"{head}: {summary_line(target.summary)}; {target.in_sync} in sync")
        for group in group_changes(target.changes):
            lines.extend(group_lines(group, color))
        if target.orphans:
            keys = printable(", ".join(sorted({c.key or "?" for c in target.orphans})))
            lines.append(
                f"  note: {len(target.orphans)} object(s) of owner {plan.owner!r} are no longer "
                f"in the repository ({keys}); --prune deletes them"
            )
        lines.extend(f"  note: {unreadable_line(u)}" for u in target.unreadable)
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


Outcome = tuple[list[datetime], list[datetime], float]


def _outcome(change: Change, now: datetime) -> Outcome:
    """Next fires before and after the change, and the change in estimated runs per day."""
    # What fires now, and what will fire once applied (conflicts and kept duplicates stay).
    after = change.after
    if change.action == "delete" or change.delete:
        after = None
    elif change.action in ("conflict", "duplicate"):
        after = change.before
    before_fires, before_rate = _fires(change.before, now)
    after_fires, after_rate = _fires(after, now)
    return before_fires, after_fires, after_rate - before_rate


def markdown_change(
    target: TargetPlan, change: Change, now: datetime, outcome: Outcome | None = None
) -> tuple[str, float]:
    """One `<details>` block, and the change in estimated runs per day."""
    before_fires, after_fires, delta = outcome or _outcome(change, now)
    title = html.escape(printable(clip(change.title)))
    key = html.escape(printable(change.key or "?"))
    summary = (
        f"<code>{_symbol(change)}</code> {change.action} <b>{key}</b> "
        f"— {title} (target <code>{html.escape(target.target)}</code>)"
    )
    out = [f"<details><summary>{summary}</summary>", ""]
    if change.reason:
        out += [html.escape(_reason_text(change.reason)), ""]
    if change.source:
        out += [f"Source: `{printable(change.source)}`", ""]
    if change.fields:
        out += ["| field | before | after |", "|---|---|---|"]
        out += [
            f"| `{printable(f.path)}` | {_cell(f.before)} | {_cell(f.after)} |"
            for f in change.fields
        ]
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


def markdown_group(
    target: TargetPlan,
    group: Sequence[Change],
    now: datetime,
    room: int,
    outcomes: Sequence[Outcome] | None = None,
) -> tuple[str, float]:
    """One `<details>` block for a template's changes: what they share, then one row each
    (rows beyond `room` characters are counted, not shown); and their runs per day."""
    first = group[0]
    shared = shared_fields(group)
    outcomes = outcomes or [_outcome(c, now) for c in group]
    delta = sum(o[2] for o in outcomes)
    summary = (
        f"<code>{_symbol(first)}</code> {first.action} <b>{html.escape(group_head(group)[2:])}</b>"
        f" (target <code>{html.escape(target.target)}</code>)"
    )
    out = [f"<details><summary>{summary}</summary>", ""]
    sources = sorted({c.source for c in group if c.source})
    if len(sources) == 1:
        out += [f"Source: `{sources[0]}`", ""]
    common = [f for f in first.fields if _field_key(f) in shared]
    if common:
        out += ["Every one of them:", "", "| field | before | after |", "|---|---|---|"]
        out += [f"| `{f.path}` | {_cell(f.before)} | {_cell(f.after)} |" for f in common]
        out.append("")
    tail = [f"Estimated runs per day: {_rate(delta)}", "", "</details>", ""]
    out += ["| | key | item | title | changes | next fire after |", "|---|---|---|---|---|---|"]
    used = sum(len(line) + 1 for line in out + tail)
    for index, (change, (_, after_fires, _)) in enumerate(zip(group, outcomes, strict=True)):
        own = "<br>".join(
            f"<code>{html.escape(f.path)}</code>: {_cell(f.before) + ' → ' if change.action != 'create' else ''}"
            f"{_cell(f.after)}"
            for f in change.fields
            if _field_key(f) not in shared
        )
        item = change.template.item if change.template else ""
        row = (
            f"| <code>{_symbol(change)}</code> | <b>{html.escape(printable(change.key or '?'))}</b> | "
            f"{html.escape(printable(item))} | {html.escape(printable(clip(change.title)))} | "
            f"{own or html.escape(printable(clip(change.reason)))} | "
            f"{_when(after_fires[:1])} |"
        )
        if used + len(row) + 200 > room:
            out += [
                "",
                f"_{len(group) - index} more of this template left out: run `schedctl plan` for all._",
            ]
            break
        out.append(row)
        used += len(row) + 1
    out += ["", *tail]
    return "\n".join(out), delta


def render_markdown(plan: Plan, now: datetime, *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """A pull-request comment: summary table, one `<details>` per change (one per template's
    changes), under `limit` chars."""
    head = ["### schedctl plan", "", "| target | " + " | ".join(ACTIONS) + " | in sync |"]
    head.append("|---" * (len(ACTIONS) + 2) + "|")
    units: list[tuple[TargetPlan, list[Change]]] = []
    outcomes: dict[int, Outcome] = {}  # by id(change): each computed once
    notes: list[str] = []  # objects that could not be read, after the changes
    added = removed = 0.0
    for target in plan.targets:
        if target.error:
            head.append(
                f"| `{target.target}` | error: {html.escape(printable(target.error))} |"
                + " |" * len(ACTIONS)
            )
            continue
        counts = target.summary
        head.append(
            f"| `{target.target}` | "
            + " | ".join(str(counts[a]) for a in ACTIONS)
            + f" | {target.in_sync} |"
        )
        for group in group_changes(target.changes):
            units.append((target, group))
            for change in group:
                outcomes[id(change)] = outcome = _outcome(change, now)
                delta = outcome[2]
                added += max(delta, 0.0)
                removed += min(delta, 0.0)
        notes.extend(
            f"- target `{html.escape(target.target)}`: {html.escape(unreadable_line(u))}\n"
            for u in target.unreadable
        )
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
    for index, (target, group) in enumerate(units):
        if len(group) > 1:
            room = limit - len(text) - reserve - 1
            known = [outcomes[id(c)] for c in group]
            block, _ = markdown_group(target, group, now, room, known)
        else:
            block, _ = markdown_change(target, group[0], now, outcomes[id(group[0])])
        if len(text) + len(block) + 1 + reserve > limit:
            left = sum(len(g) for _, g in units[index:])
            text += (
                f"\n_{left} more change(s) left out: a comment holds at most {limit:,} characters. "
                "Run `schedctl plan` for the full plan._\n"
            )
            break
        text += "\n" + block
    for note in notes:  # unreadable objects: short lines, kept while there is room
        if len(text) + len(note) + 1 > limit:
            break
        text += "\n" + note
    return text


# ---------------------------------------------------------------------------------------------
# apply results


RESULT_WORDS = {"done": "ok", "adopted": "ok (adopted)", "failed": "FAILED", "skipped": "skipped"}


def result_line(result: ChangeResult, color: bool = False) -> str:
    change = result.change
    line = f"{_symbol(change)} {result.target}/{change.key or '?'} {change.action}: {RESULT_WORDS[result.status]}"
    if result.message:
        line += f" - {printable(result.message)}"
    if result.status == "failed" and color:
        return click.style(line, fg="red", bold=True)
    return _style(line, change.action, color) if result.ok else line


def render_apply(result: ApplyResult) -> str:
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
    lines = [f"Apply: {done}."]
    failed = len(result.failed)
    conflicts = sum(1 for r in result.results if r.change.action == "conflict")
    if failed:
        lines.append(
            f"{failed} change(s) failed; run apply again once the cause is fixed: it converges."
        )
    if conflicts:
        lines.append(
            f"{conflicts} conflict(s) left alone: `schedctl import --adopt` takes such objects over."
        )
    lines.extend(f"error: {printable(str(e))}" for e in result.errors)
    return "\n".join(lines)


FORMATS: Formats[Plan] = {
    "text": lambda plan, color: render_text(plan, color=color),
    "json": lambda plan, _: render_json(plan),
    # A comment says when it was made: the fire times it shows are counted from then.
    "markdown": lambda plan, _: render_markdown(plan, datetime.now(timezone.utc)),
}

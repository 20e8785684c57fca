"""Plans and apply results as text (Terraform-like `+ ~ -`), JSON, or a pull-request comment."""

from __future__ import annotations

import difflib
import html
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from reconciler import __version__
from reconciler import cost as costs
from reconciler.cost import ChangeCost, CostTotal
from reconciler.forms import FieldChange
from reconciler.plan import KINDS, Change, Plan, TargetPlan, UnreadableObject
from reconciler.reconcile import ApplyResult, ChangeResult
from reconciler.render import Formats
from reconciler.render.text import clip, headed, printable
from reconciler.timing import parse_instant
from reconciler.vcs import git_output

SYMBOLS = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "conflict": "!",
    "duplicate": "=",
    "orphan": "!",
    "rename": "~",
    "blocked-delete": "x",
    "ignored-drift": ".",
    "pause": "~",
    "resume": "~",
    "paused": ".",
}
COLORS = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "conflict": "magenta",
    "duplicate": "cyan",
    "orphan": "red",
    "rename": "yellow",
    "blocked-delete": "magenta",
    "pause": "yellow",
    "resume": "green",
}
# Kinds named in a summary line only when there are some.
_EXTRA_COUNTS = (("rename", "to rename"), ("blocked-delete", "delete(s) blocked"),
                 ("ignored-drift", "with ignored drift"), ("pause", "to pause"),
                 ("resume", "to resume"), ("paused", "paused"))  # fmt: skip
# Kinds whose key is led by their name in the text plan (`~ resume KEY`).
_NAMED = ("pause", "resume", "paused")
GITHUB_COMMENT_LIMIT = 65_536
REASON_LIMIT = 1_000  # a reason is ours, but quotes ids and names a server chose
DIFF_LINES = 40  # lines of one text diff shown; the JSON plan keeps the whole value
ORPHAN_NOTE = "orphan (kept: prune is off)"
# The order a reviewer reads changes in: what destroys or blocks first, creates last.
REVIEW_ORDER = (
    "delete", "orphan", "blocked-delete", "conflict", "duplicate", "rename", "update",
    "pause", "resume", "ignored-drift", "paused", "create",
)  # fmt: skip


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
    line = (
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['conflict']} conflict(s), {counts['duplicate']} duplicate(s)"
    )
    extra = [f"{counts[a]} {words}" for a, words in _EXTRA_COUNTS if counts.get(a)]
    orphans = counts.get("orphan", 0)
    if orphans:
        extra.append(f"{orphans} orphan(s) kept (prune is off)")
    return ", ".join([line, *extra])


def partial_line(plan: Plan) -> str:
    """The header of a plan made under --select / --exclude ("" for a whole one)."""
    if not plan.partial:
        return ""
    parts = [f"--select {printable(g)}" for g in plan.select]
    parts += [f"--exclude {printable(g)}" for g in plan.exclude]
    return (
        f"partial plan ({' '.join(parts)}): only the selected keys are planned, and prune "
        "considers them alone"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def review_line(counts: Mapping[str, int]) -> str:
    """The one line a reviewer reads first: only what is there, what destroys in bold.

    `3 to create, 1 to update, **1 to delete**, 1 conflict blocks apply`
    """
    parts = [f"{counts[a]} to {a}" for a in ("create", "update", "resume") if counts.get(a)]
    deletes = counts.get("delete", 0) + counts.get("duplicate", 0)
    if deletes:
        parts.append(f"**{deletes} to delete**")
    if counts.get("orphan"):
        n = counts["orphan"]
        parts.append(f"**{_plural(n, 'orphan')} kept** (not in the repository; prune is off)")
    if counts.get("conflict"):
        n = counts["conflict"]
        parts.append(f"**{_plural(n, 'conflict')} {'blocks' if n == 1 else 'block'} apply**")
    return ", ".join(parts)


def text_diff(before: Any, after: Any) -> list[str] | None:
    """A changed multi-line text as unified diff lines (each escaped and clipped, at most
    DIFF_LINES of them), or None when the value is not text that spans lines."""
    if not (isinstance(before, str) and isinstance(after, str)) or before == after:
        return None
    if "\n" not in before and "\n" not in after:
        return None
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))
    lines = [printable(clip(line)) for line in lines[2:]]  # the ---/+++ header names nothing
    if len(lines) > DIFF_LINES:
        more = len(lines) - DIFF_LINES
        lines = [
            *lines[:DIFF_LINES],
            f"… ({more} more diff lines; the full value is in the JSON plan)",
        ]
    return lines


# ---------------------------------------------------------------------------------------------
# text


def _field_text(change: Change, f: FieldChange) -> str:
    if change.action == "create":
        return f"{printable(f.path)}: {value_text(f.after)}"
    return f"{printable(f.path)}: {value_text(f.before)} -> {value_text(f.after)}"


def _field_lines(change: Change, f: FieldChange, indent: str) -> list[str]:
    """A field change: `path: before -> after`, or a changed text's line diff below its path."""
    diff = text_diff(f.before, f.after) if change.action == "update" else None
    if diff is None:
        return [f"{indent}{_field_text(change, f)}"]
    return [f"{indent}{printable(f.path)}: (text changed)", *(f"{indent}  {d}" for d in diff)]


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
    key = printable(change.key or "?")
    if change.action == "rename":
        key = f"rename {printable(change.renamed_from or '?')} → {key}"
    elif change.action == "orphan":
        key = f"{ORPHAN_NOTE} {key}"
    elif change.action in _NAMED:
        key = f"{change.action} {key}"
    head = f"{indent}{symbol} {key}  {_title_text(change.title)}"
    if change.remote_id:
        head += f"  (id {_id_text(change.remote_id)})"
    if change.source and source:
        head += f"  {printable(change.source)}"
    lines = [_style(head, change.action, color, bold=True)]
    if change.action in ("conflict", "duplicate", "blocked-delete", "ignored-drift", *_NAMED) or (
        change.action == "delete" and change.reason
    ):
        lines.append(f"{indent}    {_reason_text(change.reason)}")
    if change.action in ("update", "create", "rename", "ignored-drift", "pause", "resume"):
        lines.extend(
            _style(line, change.action, color)
            for f in change.fields
            if _field_key(f) not in skip
            for line in _field_lines(change, f, f"{indent}    ")
        )
    lines.extend(f"{indent}    {line}" for line in cost_lines(change.cost))
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
        _style(line, first.action, color)
        for f in first.fields
        if _field_key(f) in shared
        for line in _field_lines(first, f, "      ")
    )
    for change in group:
        lines.extend(
            change_lines(change, color, indent="      ", skip=shared, source=len(sources) > 1)
        )
    return lines


def render_plan(plan: Plan, *, color: bool = False) -> str:
    lines: list[str] = [partial_line(plan)] if plan.partial else []
    for target, head in headed(plan.targets, lines):
        lines.append(f"{head}: {summary_line(target.summary)}; {target.in_sync} in sync")
        if target.cost is not None:
            lines.append(f"  cost: {total_text(target.cost)}")
        for group in group_changes(target.changes):
            lines.extend(group_lines(group, color))
        for orphan in target.orphans:
            lines.extend(change_lines(orphan, color))
        if target.orphans:
            lines.append(
                f"  note: {len(target.orphans)} object(s) of owner {plan.owner!r} are no longer "
                "in the repository and stay live; --prune deletes them"
            )
        lines.extend(f"  note: {unreadable_line(u)}" for u in target.unreadable)
        lines.extend(f"  note: {printable(n)}" for n in target.notes)
        lines.append("")
    if plan.differs:
        lines.append(f"Plan: {summary_line(plan.summary)}.")
        if (cost := plan.cost) is not None:
            lines.append(f"Cost: {cost.line()}.")
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


def _per_day(delta: float) -> str:
    return _rate(delta) if delta else "unchanged"


Outcome = tuple[list[datetime], list[datetime], float]


def _outcome(change: Change, now: datetime) -> Outcome:
    """Next fires before and after the change, and the change in estimated runs per day."""
    # What fires now, and what will fire once applied (conflicts, orphans, kept duplicates stay).
    after = change.after
    if change.action == "delete" or change.delete:
        after = None
    elif change.action in (
        "conflict", "duplicate", "orphan", "blocked-delete", "ignored-drift", "paused",
    ):  # fmt: skip
        after = change.before
    before_fires, before_rate = _fires(change.before, now)
    after_fires, after_rate = _fires(after, now)
    return before_fires, after_fires, after_rate - before_rate


BLOCKS_APPLY = (
    "**Blocks apply:** the apply after the merge reports this conflict and exits 1 "
    "until it is resolved."
)


def _fence(lines: Sequence[str]) -> list[str]:
    """A ```diff block whose fence no line of it can close early."""
    ticks = max((_backtick_run(line) for line in lines), default=0)
    fence = "`" * max(3, ticks + 1)
    return [f"{fence}diff", *lines, fence]


def _backtick_run(line: str) -> int:
    best = run = 0
    for char in line:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best


def markdown_change(
    target: TargetPlan, change: Change, now: datetime, outcome: Outcome | None = None
) -> tuple[str, float]:
    """One `<details>` block, and the change in estimated runs per day."""
    before_fires, after_fires, delta = outcome or _outcome(change, now)
    title = html.escape(printable(clip(change.title)))
    key = html.escape(printable(change.key or "?"))
    action = ORPHAN_NOTE if change.action == "orphan" else change.action
    if change.action == "rename":
        key = f"{html.escape(printable(change.renamed_from or '?'))} → {key}"
    summary = (
        f"<code>{_symbol(change)}</code> {action} <b>{key}</b> "
        f"— {title} (target <code>{html.escape(target.target)}</code>)"
    )
    out = [f"<details><summary>{summary}</summary>", ""]
    if change.action == "conflict":
        out += [BLOCKS_APPLY, ""]
    elif change.action == "orphan":
        out += ["**Stays live:** prune is off; an apply with `--prune` deletes it.", ""]
    if change.reason:
        out += [html.escape(_reason_text(change.reason)), ""]
    if change.source:
        out += [f"Source: `{printable(change.source)}`", ""]
    diffs: list[tuple[str, list[str]]] = []
    if change.fields:
        out += ["| field | before | after |", "|---|---|---|"]
        for f in change.fields:
            diff = text_diff(f.before, f.after) if change.action == "update" else None
            if diff is None:
                out.append(f"| `{printable(f.path)}` | {_cell(f.before)} | {_cell(f.after)} |")
            else:
                out.append(f"| `{printable(f.path)}` | text changed: the diff is below | |")
                diffs.append((f.path, diff))
        out.append("")
    for path, diff in diffs:
        out += [f"`{printable(path)}`:", "", *_fence(diff), ""]
    if before_fires != after_fires:  # the same fires twice tell a reviewer nothing
        out += [
            f"Next fires before: {_when(before_fires)}  ",
            f"Next fires after: {_when(after_fires)}  ",
        ]
    out += [f"{line}  " for line in cost_lines(change.cost, markdown=True)]
    out += [f"Estimated runs per day: {_per_day(delta)}", "", "</details>", ""]
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
    priced = [c.cost for c in group if c.cost is not None]
    tail = [f"Cost: {total_text(costs.combined(priced))}  "] if priced else []
    tail += [f"Estimated runs per day: {_per_day(delta)}", "", "</details>", ""]
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


# Set by the plan workflow to the uploaded report's artifact URL (`schedctl report`).
REPORT_URL_ENV = "SCHEDCTL_REPORT_URL"


def planned_commit(config: str | None) -> str | None:
    """The commit a plan was made from: GITHUB_SHA in CI, else the config's git HEAD, else
    None (not a git checkout, no git)."""
    sha = os.environ.get("GITHUB_SHA", "").strip()
    if sha:
        return sha
    where = os.path.dirname(os.path.abspath(config)) if config else os.getcwd()
    return git_output(["rev-parse", "HEAD"], where)


def _review_rank(group: Sequence[Change]) -> int:
    first = group[0]
    action = "delete" if first.action == "duplicate" and first.delete else first.action
    return REVIEW_ORDER.index(action) if action in REVIEW_ORDER else len(REVIEW_ORDER)


def _summary_table(plan: Plan) -> list[str]:
    """Targets by kind of change: only the targets and kinds that have any."""
    shown = [t for t in plan.targets if t.error or t.differs]
    kinds = [k for k in KINDS if any(t.summary[k] for t in shown if not t.error)]
    in_sync = any(t.in_sync for t in shown)
    if not shown:
        return []
    costed = any(t.cost is not None for t in shown)
    columns = ["target", *kinds, *(["in sync"] if in_sync else []), *(["cost"] if costed else [])]
    rows = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for t in shown:
        if t.error:
            cells = [f"error: {html.escape(printable(t.error))}"] + [""] * (len(columns) - 2)
        else:
            counts = t.summary
            cells = [str(counts[k]) for k in kinds] + ([str(t.in_sync)] if in_sync else [])
            if costed:
                cells.append(_cost_cell(t.cost))
        rows.append(f"| `{t.target}` | " + " | ".join(cells) + " |")
    return [*rows, ""]


def render_markdown(
    plan: Plan,
    now: datetime,
    *,
    limit: int = GITHUB_COMMENT_LIMIT,
    commit: str | None = None,
    find_commit: bool = True,
    report_url: str | None = None,
) -> str:
    """A pull-request comment under `limit` chars: the line a reviewer reads first, a summary
    table, then one `<details>` per change (one per template's changes), what destroys or
    blocks first, and a footer naming the version and commit planned (and linking the week's
    report, `report_url` or $SCHEDCTL_REPORT_URL, when CI uploaded one)."""
    head = ["### schedctl plan", ""]
    if plan.differs:
        head += [review_line(plan.summary), ""]
        if (cost := plan.cost) is not None:
            head += [f"**Cost:** {html.escape(cost.line())}", ""]
    head += _summary_table(plan)
    units: list[tuple[TargetPlan, list[Change]]] = []
    outcomes: dict[int, Outcome] = {}  # by id(change): each computed once
    notes: list[str] = []  # objects that could not be read, after the changes
    added = removed = 0.0
    for target in plan.targets:
        if target.error:
            continue
        for group in [*group_changes(target.changes), *([o] for o in target.orphans)]:
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
        notes.extend(
            f"- target `{html.escape(target.target)}`: {html.escape(printable(n))}\n"
            for n in target.notes
        )
    units.sort(key=lambda unit: _review_rank(unit[1]))  # stable: each kind keeps its order
    in_sync = sum(t.in_sync for t in plan.targets if not t.error and not t.differs)
    if in_sync and plan.differs:
        head += [f"{_plural(in_sync, 'schedule')} in sync on the targets not listed.", ""]
    if plan.partial:
        head += [f"_{html.escape(partial_line(plan))}_", ""]
    if not plan.differs:
        head.append("No changes." if not plan.failed else "Nothing planned: a listing failed.")
    elif added or removed:
        head.append(
            f"Estimated runs per day: {_rate(added)} added, {_rate(removed)} removed "
            f"(net {_rate(added + removed)})."
        )
    else:
        head.append("Estimated runs per day: unchanged.")
    head.append("")
    if commit is None and find_commit:
        commit = planned_commit(plan.config)
    report_url = report_url or os.environ.get(REPORT_URL_ENV, "").strip()
    link = (
        f"\n[The week's report]({html.escape(report_url, quote=True)}): each schedule's runs, "
        "the load per minute and cost.\n"
        if report_url.startswith("https://") and not any(c in report_url for c in " ()<>")
        else ""
    )
    footer = link + (
        f"\n<sub>schedctl {__version__}"
        + (
            f" · planned at commit <code>{html.escape(printable(clip(commit, 40)))}</code>"
            if commit
            else ""
        )
        + "</sub>\n"
    )
    text = "\n".join(head)
    reserve = 300 + len(footer)  # room for the notes below and the footer
    for index, (target, group) in enumerate(units):
        if len(group) > 1:
            room = limit - len(text) - reserve - 1
            known = [outcomes[id(c)] for c in group]
            block, _ = markdown_group(target, group, now, room, known)
        else:
            block, _ = markdown_change(target, group[0], now, outcomes[id(group[0])])
        if len(text) + len(block) + 1 + reserve > limit:
            block = _named(target, group)  # too large to show: still named, kind and target
        if len(text) + len(block) + 1 + reserve > limit:
            left = sum(len(g) for _, g in units[index:])
            text += (
                f"\n_{left} more change(s) left out: a comment holds at most {limit:,} characters. "
                "Run `schedctl plan` for the full plan._\n"
            )
            break
        text += "\n" + block
    for note in notes:  # unreadable objects: short lines, kept while there is room
        if len(text) + len(note) + 1 + len(footer) > limit:
            break
        text += "\n" + note
    return text + footer


def _named(target: TargetPlan, group: Sequence[Change]) -> str:
    """A change (or a template's changes) too large for the comment, named in one line."""
    first = group[0]
    what = (
        html.escape(group_head(group)[2:])
        if len(group) > 1
        else html.escape(printable(clip(first.key or "?", 100)))
    )
    return (
        f"- <code>{_symbol(first)}</code> {first.action} <b>{what}</b> "
        f"(target <code>{html.escape(target.target)}</code>): too large for this comment; "
        "`schedctl plan` shows it\n"
    )


# ---------------------------------------------------------------------------------------------
# cost (reconciler/cost.py computes it; these only draw it)


def _runs(value: float) -> str:
    return costs.number_text(round(value, 2))


_tokens, _money = costs.tokens_text, costs.money_text


def _duration(ms: float) -> str:
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def cost_lines(cost: ChangeCost | None, *, markdown: bool = False) -> list[str]:
    """`cost: 0 → 96 runs/day; ≈ 12.5 k tokens/run (its estimate); ≈ 0 → 1.2 M tokens/day`,
    then the budget exception or the budgets crossed."""
    if cost is None:
        return []
    parts = [f"{_runs(cost.runs_before)} → {_runs(cost.runs_after)} runs/day"]
    before, after = cost.tokens_before, cost.tokens_after
    if before is None or after is None or cost.tokens_per_run is None:
        parts.append("tokens unknown (no run of it reports tokens, and no estimate)")
    else:
        parts.append(f"≈ {_tokens(cost.tokens_per_run)} tokens/run ({costs.source_text(cost)})")
        parts.append(f"≈ {_tokens(before)} → {_tokens(after)} tokens/day")
        money_before, money_after = cost.money(before), cost.money(after)
        if money_before is not None and money_after is not None and cost.currency:
            parts.append(
                f"≈ {_money(money_before, cost.currency)} → "
                f"{_money(money_after, cost.currency)}/day"
            )
    if cost.duration_ms is not None:
        parts.append(f"median run {_duration(cost.duration_ms)}")
    label = "**Cost:**" if markdown else "cost:"
    lines = [f"{label} {'; '.join(parts)}"]
    if cost.over and cost.exception:
        reason = printable(clip(cost.exception, REASON_LIMIT))
        lines.append(
            f"**Budget exception:** {html.escape(reason)}"
            if markdown
            else f"budget exception: {reason}"
        )
    word = "over budget, allowed" if cost.exception else "OVER BUDGET"
    for message in cost.over:
        text = printable(clip(message, REASON_LIMIT))
        lines.append(f"**{word}:** {html.escape(text)}" if markdown else f"{word}: {text}")
    return lines


def total_text(cost: CostTotal) -> str:
    """`runs/day 120 → 216 (+96); tokens/day of the changes ≈ 0 → 1.2 M; ≈ +$12/day`"""
    text = (
        f"runs/day {_runs(cost.runs_before)} → {_runs(cost.runs_after)} "
        f"({costs.signed(cost.runs_delta, _runs(cost.runs_delta))})"
    )
    if cost.known:
        text += f"; tokens/day of the changes ≈ {_tokens(cost.tokens_before)} → "
        text += _tokens(cost.tokens_after)
        money = cost.money_delta
        if money is not None and cost.currency:
            text += f"; ≈ {_money(money, cost.currency, sign=True)}/day"
    if cost.unknown:
        text += f"; {cost.unknown} change(s) of unknown tokens left out"
    return text


def _cost_cell(cost: CostTotal | None) -> str:
    found = costs.total([cost]) if cost is not None else None
    return html.escape(found.line()) if found is not None else ""


# ---------------------------------------------------------------------------------------------
# apply results


RESULT_WORDS = {"done": "ok", "adopted": "ok (adopted)", "failed": "FAILED", "skipped": "skipped"}


def result_line(result: ChangeResult, color: bool = False) -> str:
    change = result.change
    line = f"{_symbol(change)} {result.target}/{change.key or '?'} {change.action}: {RESULT_WORDS[result.status]}"
    if result.message:
        line += f" - {printable(result.message)}"
    elif result.ok and change.action in ("pause", "resume"):  # says what it did, and until when
        line += f" - {_reason_text(change.reason)}"
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
    done += "".join(
        f", {counts[a]} {w}"
        for a, w in (("rename", "renamed"), ("pause", "paused"), ("resume", "resumed"))
        if counts.get(a)
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
    lines.extend(f"error: {printable(str(e))}" for e in result.errors)
    lines.append(f"Apply {'complete' if result.ok else 'incomplete'}: {done}")
    return "\n".join(lines)


def _made(plan: Plan) -> datetime:
    """When the plan was made (a saved one: as it says); now when it does not say."""
    try:
        return parse_instant(plan.created_at)
    except ValueError:
        return datetime.now(timezone.utc)


FORMATS: Formats[Plan] = {
    "text": lambda plan, style: render_plan(plan, color=style.color),
    "json": lambda plan, _: render_json(plan),
    # A comment says when it was made: the fire times it shows are counted from then.
    "markdown": lambda plan, _: render_markdown(plan, _made(plan)),
}

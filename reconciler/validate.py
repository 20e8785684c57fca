"""Semantic checks beyond the schema, then each target's platform checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from reconciler import platforms, timing
from reconciler.cost import check_budgets
from reconciler.errors import ConfigError, Diagnostic
from reconciler.fleet import collapse
from reconciler.loader import Project, ResolvedSchedule
from reconciler.yamlpos import position_of


def check_schedule(resolved: ResolvedSchedule, now: datetime) -> list[Diagnostic]:
    """Platform-independent meaning: the cron parses and can fire, the interval is sane."""
    spec = resolved.schedule.schedule
    out: list[Diagnostic] = []
    if spec.cron is not None:
        try:
            expr = timing.CronExpr.parse(spec.cron)
        except timing.CronError as exc:
            out.append(
                resolved.diagnostic(("schedule", "cron"), f"invalid cron {spec.cron!r}: {exc}")
            )
        else:
            if not expr.can_ever_fire():
                out.append(
                    resolved.diagnostic(
                        ("schedule", "cron"), f"cron {spec.cron!r} can never fire (no such date)"
                    )
                )
    if spec.every is not None and timing.parse_duration(spec.every).total_seconds() < 60:
        out.append(
            resolved.diagnostic(
                ("schedule", "every"),
                f"every {spec.every}: intervals under a minute run only locally",
                "warning",
            )
        )
    if spec.at is not None and spec.at.tzinfo is None and not resolved.timezone_explicit:
        out.append(
            resolved.diagnostic(
                ("schedule", "at"),
                "`at` has no UTC offset: read in UTC (add one, or a timezone)",
                "warning",
            )
        )
    return out


@dataclass
class Findings:
    """What validation found, by whose rule it is."""

    own: list[Diagnostic]  # loading and meaning: the files themselves are wrong
    platform: list[Diagnostic]  # what a target's platform cannot express or treats differently

    def all(self) -> list[Diagnostic]:
        """Both, sorted; a problem shared by several targets' copies of a schedule once."""
        return sorted(
            set(self.own) | set(self.platform),
            key=lambda d: (d.file, d.line, d.column, d.severity, d.message),
        )


def validate_project(project: Project, now: datetime | None = None) -> list[Diagnostic]:
    """Every diagnostic: loading, semantics, and each target's platform checks. Sorted."""
    return check_project(project, now).all()


def check_project(project: Project, now: datetime | None = None) -> Findings:
    """Every diagnostic, kept apart by origin (the local runner treats them differently)."""
    now = now or datetime.now(timezone.utc)
    own = list(project.diagnostics)
    platform: list[Diagnostic] = []
    # A schedule whose own meaning is broken (a cron that does not parse or never fires) is
    # not handed to the platform checks: they compute fire times and would fail on it.
    broken: set[int] = set()
    for resolved in project.schedules:
        problems = check_schedule(resolved, now)
        own.extend(problems)
        if any(d.severity == "error" for d in problems):
            broken.add(id(resolved))
    for name, target in project.config.targets.items():
        schedules = [s for s in project.for_target(name) if id(s) not in broken]
        try:
            found = platforms.get(target.platform)
        except ConfigError as exc:
            pos = position_of(project.config_data, ("targets", name, "platform"))
            own.append(
                Diagnostic(
                    project.config_file, pos.line, pos.column, f"targets.{name}.platform: {exc}"
                )
                if project.config_file
                else Diagnostic.general(f"target {name!r}: {exc}")
            )
            continue
        if schedules:
            platform.extend(found.check(schedules, target, now))
    # Budgets are the repository's rules for its targets: the local runner warns, as it does
    # of a platform's.
    platform.extend(
        check_budgets(project, [s for s in project.schedules if id(s) not in broken], now)
    )
    # A template's items share its lines: a finding they all share is said once.
    return Findings(collapse(own, project.fleets), collapse(platform, project.fleets))

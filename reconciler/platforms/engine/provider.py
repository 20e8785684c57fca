"""engine: per-instance tasks with cron / interval / one-shot schedules and prompts.

See ../shared/platforms/engine-scheduled-tasks.txt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing
from reconciler.errors import ConfigError
from reconciler.forms import Json, LiveTask, TaskStatus, canonical_cron, utc_iso
from reconciler.model import MAX_INTERVAL
from reconciler.platforms.rest import (
    MarkerStyle,
    RestProvider,
    Unreadable,
    flag_at,
    instant_at,
    shown,
    text_at,
    whole_at,
)

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.http import ApiClient
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target


SANDBOX_INSTANCE = "local"
# The marker is the description's last line: `[schedctl:owner/key]`.
MARKER = MarkerStyle(open="[schedctl:", close="]", joiner="\n\n")
DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "history": "keep",
    "max_retries": 3,
    "delete_after_run": False,
    "schedule.timezone": "UTC",
}


def engine_schedule(schedule: Mapping[str, Any], zone: str) -> Json:
    """A document schedule as the engine's union: cron (presets too), interval or one-shot."""
    cron = schedule.get("cron")
    if cron is not None or (cron := timing.preset_cron(schedule)) is not None:
        return {"type": "cron", "expression": canonical_cron(cron), "timezone": zone}
    if schedule.get("every") is not None:
        every_ms = int(timing.parse_duration(schedule["every"]).total_seconds() * 1000)
        out: Json = {"type": "interval", "everyMs": every_ms}
        if schedule.get("anchor") is not None:
            out["anchorAt"] = utc_iso(schedule["anchor"], zone)
        return out
    if schedule.get("at") is not None:
        return {"type": "one-shot", "runAt": utc_iso(schedule["at"], zone)}
    raise ValueError(f"no schedule form in {dict(schedule)!r}")


_MAX_EVERY_MS = int(MAX_INTERVAL.total_seconds()) * 1000


def document_schedule(remote: Mapping[str, Any]) -> Json:
    """The engine's schedule union as a document schedule; Unreadable for any other shape."""
    schedule = remote.get("schedule")
    if not isinstance(schedule, Mapping):
        raise Unreadable(
            f"`schedule` is {shown(schedule)}, not an object with a type "
            "(cron, interval or one-shot)"
        )
    kind = schedule.get("type")
    if kind == "cron":
        expression = text_at(schedule, "expression", "schedule.")
        if not expression:
            raise Unreadable("`schedule.expression` is missing or empty")
        return {"cron": expression, "timezone": text_at(schedule, "timezone", "schedule.") or "UTC"}
    if kind == "interval":
        every_ms = whole_at(schedule, "everyMs", "schedule.")
        if every_ms is None or not 1000 <= every_ms <= _MAX_EVERY_MS:
            raise Unreadable(
                f"`schedule.everyMs` is {shown(every_ms)}, not a number of milliseconds of at "
                "least 1000"
            )
        out: Json = {"every": timing.format_duration(timedelta(seconds=every_ms // 1000))}
        if schedule.get("anchorAt"):
            out["anchor"] = instant_at(schedule, "anchorAt", "schedule.")
        return out
    if kind == "one-shot":
        return {"at": instant_at(schedule, "runAt", "schedule.")}
    raise Unreadable(f"`schedule.type` is {shown(kind)}, none of cron, interval, one-shot")


class EngineProvider(RestProvider):
    name: ClassVar[str] = "engine"
    marker_style = MARKER
    marker_field = "description"
    defaults = DEFAULTS
    plain_fields: ClassVar[Mapping[tuple[str, ...], tuple[str, ...]]] = {
        ("name",): ("title",),
        ("prompt",): ("action", "prompt"),
        ("enabled",): ("enabled",),
        ("deleteAfterRun",): ("delete_after_run",),
    }
    # An interval without anchorAt counts from the task's creation (import writes that anchor).
    implicit_anchor: ClassVar[bool] = True

    def __init__(self, client: ApiClient, target: Target, *, target_name: str, owner: str) -> None:
        super().__init__(client, target, target_name=target_name, owner=owner)
        instance = target.instance or (SANDBOX_INSTANCE if target.sandbox else None)
        if not instance:
            raise ConfigError(f"engine target {target_name!r} needs `instance` (the instance slug)")
        self.instance = instance

    def collection_path(self) -> str:
        return f"api/instances/{self.instance}/scheduled-tasks"

    def describe_target(self) -> str:
        return f"engine instance {self.instance!r}"

    def run_log_path(self) -> str | None:
        return f"{self.collection_path()}/runs"  # the instance's global run log

    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        schedule = document["schedule"]
        action = document["action"]
        if action.get("prompt") is None:
            raise ValueError("engine runs prompts only; it has no app runs")
        deliver = document.get("deliver") or {}
        max_retries = document.get("max_retries")
        return {
            "name": document.get("title") or document["name"],
            "description": MARKER.attach(document.get("description") or "", self.marker(key)),
            "prompt": action["prompt"],
            "schedule": engine_schedule(schedule, schedule.get("timezone") or timezone),
            "enabled": document.get("enabled", True),
            "outboundChannel": deliver.get("channel"),
            "outboundTarget": deliver.get("target"),
            "keepHistory": document.get("history", "keep") != "fresh",
            "deleteAfterRun": bool(document.get("delete_after_run", False)),
            "maxRetries": 3 if max_retries is None else max_retries,
        }

    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        description, marker = MARKER.detach(text_at(remote, "description") or "")
        doc: Json = {"name": marker.key if marker else None, "title": text_at(remote, "name") or ""}
        if description:
            doc["description"] = description
        doc["enabled"] = flag_at(remote, "enabled", True)
        doc["schedule"] = document_schedule(remote)
        doc["action"] = {"prompt": text_at(remote, "prompt") or ""}
        channel, target = text_at(remote, "outboundChannel"), text_at(remote, "outboundTarget")
        if channel and target:
            doc["deliver"] = {"channel": channel, "target": target}
        doc["history"] = "keep" if flag_at(remote, "keepHistory", True) else "fresh"
        max_retries = whole_at(remote, "maxRetries")
        doc["max_retries"] = 3 if max_retries is None else max_retries
        doc["delete_after_run"] = flag_at(remote, "deleteAfterRun", False)
        return doc

    def status_of(self, remote: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            enabled=remote.get("enabled"),
            last_status=remote.get("lastStatus"),
            last_run=remote.get("lastRunAt"),
            next_run=remote.get("nextRunAt"),
            consecutive_errors=remote.get("consecutiveErrors"),
        )

    def adoption_payload(self, task: LiveTask, remote: Mapping[str, Any], key: str) -> Json:
        # PATCH the description (the marker); an interval also gets its anchor, the creation
        # time it already counted from, written out so that the imported file matches it.
        payload: Json = {"description": remote["description"]}
        if remote["schedule"].get("type") == "interval" and remote["schedule"].get("anchorAt"):
            payload["schedule"] = remote["schedule"]
        return payload

    @classmethod
    def problems(cls, s: ResolvedSchedule, where: str, now: datetime) -> Iterator[Diagnostic]:
        sched = s.schedule
        if sched.action.app is not None:
            yield s.diagnostic(
                ("action", "app"), f"{where}: engine runs prompts only; it has no app runs"
            )
        at = sched.schedule.at
        if at is not None:
            fire = timing.trigger_for(sched.schedule, s.timezone).next_after(
                now - timedelta(microseconds=1)
            )
            if fire is None:
                yield s.diagnostic(
                    ("schedule", "at"), f"{where}: one-shot time {at.isoformat()} is in the past"
                )

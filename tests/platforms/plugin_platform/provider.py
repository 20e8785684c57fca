"""tinycron's provider: crons (a daily time becomes one) and prompts; `label` carries the title
and the marker, `Title <<owner/key>>`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing
from reconciler.forms import Json, LiveTask, Marker, TaskStatus, canonical_cron
from reconciler.platforms.rest import MarkerStyle, RestProvider

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target

MARKER = MarkerStyle(open="<<", close=">>", joiner=" ")


class TinycronProvider(RestProvider):
    name: ClassVar[str] = "tinycron"
    marker_style = MARKER
    marker_field = "label"
    defaults: ClassVar[Mapping[str, Any]] = {"enabled": True, "schedule.timezone": "UTC"}
    update_method = "PATCH"

    def collection_path(self) -> str:
        return "api/jobs"

    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        schedule, action = document["schedule"], document["action"]
        cron = schedule.get("cron")
        if cron is None and schedule.get("daily") is not None:
            cron = timing.preset_to_cron("daily", schedule["daily"])
        if cron is None or action.get("prompt") is None:
            raise ValueError("tinycron runs crons with prompts only")
        return {
            "label": MARKER.attach(document.get("title") or document["name"], self.marker(key)),
            "cron": canonical_cron(cron),
            "tz": schedule.get("timezone") or timezone,
            "prompt": action["prompt"],
            "active": document.get("enabled", True),
        }

    def split_marker(self, remote: Mapping[str, Any]) -> tuple[str, Marker | None]:
        return MARKER.detach(str(remote.get("label") or ""))

    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        title, marker = self.split_marker(remote)
        return {
            "name": marker.key if marker else None,
            "title": title,
            "enabled": remote.get("active", True),
            "schedule": {"cron": remote.get("cron", ""), "timezone": remote.get("tz") or "UTC"},
            "action": {"prompt": remote.get("prompt", "")},
        }

    def status_of(self, remote: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            enabled=remote.get("active"),
            last_status=remote.get("last"),
            next_run=remote.get("next"),
        )

    def adoption_payload(self, task: LiveTask, remote: Mapping[str, Any], key: str) -> Json:
        return {"label": remote["label"]}

    @classmethod
    def check(
        cls, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        out = []
        for s in schedules:
            spec = s.schedule.schedule
            if spec.cron is None and spec.daily is None:
                out.append(
                    s.diagnostic(
                        ("schedule", spec.form),
                        f"tinycron target {s.target!r}: tinycron runs crons only "
                        f"(write this {spec.form} schedule as a cron)",
                    )
                )
            if s.schedule.action.app is not None:
                out.append(
                    s.diagnostic(("action", "app"), f"tinycron target {s.target!r}: prompts only")
                )
        return out

"""A platform server for the benchmarks that does a real API's work per request: stdlib only.

    python bench/platform_server.py PLATFORM LATENCY_MS PAGE_SIZE [SEED_FILE]

Written from the platform documents alone (shared/platforms), sharing no code with the
sandbox or with bench_reconcile's lean server, so that schedctl is not measured only against
servers built alongside it. Per request it waits LATENCY_MS, parses and validates the body,
keeps every field a GET returns (server-computed ones too: next run from the schedule and
zone, counters, timestamps) as Python objects, and serializes each page from them with json,
as an ORM-backed API does. A listing therefore costs the server real CPU per page, unlike the
lean server, which echoes.

    engine    /api/instances/{slug}/scheduled-tasks[/{id}]   GET POST / GET PATCH DELETE
              pages: {"tasks": [...], "next_cursor": "..."}
    aitroop   /api/scheduled-tasks[/{id}]                   GET POST / PUT DELETE
              pages: {"data": [...], "has_more": true, "next": "/api/...?cursor=..."}

PAGE_SIZE is the default page (`?limit=` overrides it). SEED_FILE, a JSON array of create
bodies, is loaded at start through the same validation, so a benchmark can begin with
thousands of tasks without sending them. Prints its base URL, then serves until killed.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Task = dict[str, Any]


class Invalid(Exception):
    """A 4xx answer: status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------
# Time: zones, ISO stamps, the next fire of a five-field cron


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def stamp(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid(422, f"{field}: expected an ISO 8601 timestamp")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(422, f"{field}: {value!r} is not an ISO 8601 timestamp") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


_ZONES: dict[str, ZoneInfo] = {}


def zone(name: Any, field: str = "timezone") -> ZoneInfo:
    if not isinstance(name, str):
        raise Invalid(422, f"{field}: expected an IANA zone name")
    if name not in _ZONES:
        try:
            _ZONES[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(422, f"{field}: unknown timezone {name!r}") from None
    return _ZONES[name]


_CRON_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_fields(expression: Any) -> list[set[int]]:
    """The five fields' value sets (numbers, *, ranges, steps, lists); 422 when malformed."""
    parts = expression.split() if isinstance(expression, str) else []
    if len(parts) != 5:
        raise Invalid(422, f"schedule.expression: {expression!r} is not a five-field cron")
    fields = []
    for part, (low, high) in zip(parts, _CRON_BOUNDS, strict=True):
        values: set[int] = set()
        for item in part.split(","):
            match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", item)
            if match is None:
                raise Invalid(422, f"schedule.expression: cannot read {item!r}")
            start = low if match[1] == "*" else int(match[2])
            stop = high if match[1] == "*" else int(match[3] or match[2])
            step = int(match[4] or 1)
            if not low <= start <= stop <= high or step < 1:
                raise Invalid(422, f"schedule.expression: {item!r} is out of range")
            if match[4] and match[1] != "*" and not match[3]:
                stop = high  # "5/15" runs from 5 to the end
            values.update(range(start, stop + 1, step))
        fields.append(values)
    if 7 in fields[4]:
        fields[4] = (fields[4] - {7}) | {0}
    return fields


def cron_next(expression: str, zone_name: str, after: datetime) -> datetime | None:
    minutes, hours, days, months, weekdays = cron_fields(expression)
    any_day = len(days) == 31
    any_weekday = len(weekdays) == 7
    tz = zone(zone_name)
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(366 * 5):
        weekday = (day.weekday() + 1) % 7  # cron counts from Sunday
        if day.month in months:
            dom, dow = day.day in days, weekday in weekdays
            # Both restricted: either matches (Vixie cron); one restricted: that one decides.
            hit = (dom or dow) if not (any_day or any_weekday) else (dom and dow)
            if hit:
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if wall > after:
                            return wall.astimezone(timezone.utc)
        day += timedelta(days=1)
    return None


def interval_next(every: timedelta, anchor: datetime, after: datetime) -> datetime:
    if anchor > after:
        return anchor
    periods = (after - anchor) // every + 1
    return anchor + periods * every


# ---------------------------------------------------------------------------------------------
# Field checks


def text(body: Task, field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(422, f"{field}: expected a non-empty string")
    return value


def flag(body: Task, field: str, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise Invalid(422, f"{field}: expected true or false")
    return value


def integer(value: Any, field: str, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise Invalid(422, f"{field}: expected an integer >= {low}")
    if high is not None and value > high:
        raise Invalid(422, f"{field}: expected an integer <= {high}")
    return value


def hhmm(value: Any, field: str) -> tuple[int, int]:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value) if isinstance(value, str) else None
    if match is None:
        raise Invalid(422, f"{field}: expected HH:MM")
    return int(match[1]), int(match[2])


# ---------------------------------------------------------------------------------------------
# The two platforms


class Engine:
    """Per-instance tasks; PATCH changes the fields given, `schedule` whole."""

    prefix = "st_"
    update_method = "PATCH"
    channels = frozenset({"slack", "telegram", "whatsapp"})

    def schedule(self, value: Any) -> Task:
        if not isinstance(value, dict):
            raise Invalid(422, "schedule: expected an object with a type")
        kind = value.get("type")
        if kind == "cron":
            cron_fields(value.get("expression"))
            out: Task = {"type": "cron", "expression": value["expression"]}
            if value.get("timezone") is not None:
                zone(value["timezone"], "schedule.timezone")
                out["timezone"] = value["timezone"]
            return out
        if kind == "interval":
            out = {"type": "interval", "everyMs": integer(value.get("everyMs"), "everyMs", 1000)}
            if value.get("anchorAt") is not None:
                parse_stamp(value["anchorAt"], "schedule.anchorAt")
                out["anchorAt"] = value["anchorAt"]
            return out
        if kind == "one-shot":
            parse_stamp(value.get("runAt"), "schedule.runAt")
            return {"type": "one-shot", "runAt": value["runAt"]}
        raise Invalid(422, f"schedule.type: expected cron, interval or one-shot, not {kind!r}")

    def writable(self, body: Task, base: Task | None) -> Task:
        """The writable fields of a create (base None) or a patch of `base`."""
        out: Task = dict(base) if base else {}
        if base is None or "name" in body:
            out["name"] = text(body, "name")
        if base is None or "prompt" in body:
            out["prompt"] = text(body, "prompt")
        if base is None or "schedule" in body:
            out["schedule"] = self.schedule(body.get("schedule"))
        if base is None or "description" in body:
            out["description"] = text(body, "description", required=False)
        for field, default in (("enabled", True), ("keepHistory", True), ("deleteAfterRun", False)):
            if base is None or field in body:
                out[field] = flag(body, field, default)
        if base is None or "outboundChannel" in body:
            channel = body.get("outboundChannel")
            if channel is not None and channel not in self.channels:
                raise Invalid(422, f"outboundChannel: expected one of {sorted(self.channels)}")
            out["outboundChannel"] = channel
        if base is None or "outboundTarget" in body:
            out["outboundTarget"] = text(body, "outboundTarget", required=False)
        if base is None or "maxRetries" in body:
            out["maxRetries"] = integer(body.get("maxRetries", 3), "maxRetries", 0)
        return out

    def new(self, task_id: str, body: Task, now: datetime) -> Task:
        task = {"id": task_id, **self.writable(body, None)}
        task.update(
            createdAt=stamp(now),
            updatedAt=stamp(now),
            lastRunAt=None,
            lastStatus=None,
            lastError=None,
            consecutiveErrors=0,
            runCount=0,
            conversationId=None,
        )
        return self.reschedule(task, now)

    def edit(self, task: Task, body: Task, now: datetime) -> Task:
        return self.reschedule({**self.writable(body, task), "updatedAt": stamp(now)}, now)

    def reschedule(self, task: Task, now: datetime) -> Task:
        schedule = task["schedule"]
        nxt: datetime | None = None
        if task["enabled"]:
            if schedule["type"] == "cron":
                nxt = cron_next(schedule["expression"], schedule.get("timezone", "UTC"), now)
            elif schedule["type"] == "interval":
                anchor = parse_stamp(schedule.get("anchorAt") or task["createdAt"], "anchorAt")
                nxt = interval_next(timedelta(milliseconds=schedule["everyMs"]), anchor, now)
            else:
                run_at = parse_stamp(schedule["runAt"], "runAt")
                nxt = run_at if run_at > now else None
        task["nextRunAt"] = stamp(nxt)
        return task

    def page(self, items: list[Task], cursor: str | None, path: str) -> Task:
        return {"tasks": items, "next_cursor": cursor}


class Aitroop:
    """Presets and actions; PUT replaces every writable field (omitted ones take defaults)."""

    prefix = "task_"
    update_method = "PUT"
    units: ClassVar[dict[str, int]] = {"minutes": 60, "hours": 3600}

    def schedule(self, kind: Any, config: Any) -> tuple[Task, str]:
        """(schedule_config, cron_expr label)."""
        if not isinstance(config, dict):
            raise Invalid(422, "schedule_config: expected an object")
        if kind == "interval":
            every = integer(config.get("every"), "schedule_config.every", 1)
            unit = config.get("unit")
            if unit not in self.units:
                raise Invalid(422, "schedule_config.unit: expected minutes or hours")
            if every * self.units[unit] < 300:
                raise Invalid(422, "invalid schedule: intervals below 5 minutes are rejected")
            return {"every": every, "unit": unit}, f"every {every} {unit.rstrip('s')}"
        if kind not in ("daily", "weekly", "monthly"):
            raise Invalid(
                422, f"schedule_type: expected interval, daily, weekly or monthly, not {kind!r}"
            )
        hour, minute = hhmm(config.get("time"), "schedule_config.time")
        out: Task = {"time": config["time"]}
        if kind == "daily":
            return out, f"{minute} {hour} * * *"
        if kind == "weekly":
            days = config.get("days")
            if not isinstance(days, list) or not days:
                raise Invalid(422, "schedule_config.days: expected a list of 0-6")
            out["days"] = sorted({integer(d, "schedule_config.days", 0, 6) for d in days})
            return out, f"{minute} {hour} * * {','.join(map(str, out['days']))}"
        out["day"] = integer(config.get("day"), "schedule_config.day", 1, 28)
        return out, f"{minute} {hour} {out['day']} * *"

    def action(self, kind: Any, config: Any) -> Task:
        if not isinstance(config, dict):
            raise Invalid(422, "action_config: expected an object")
        if kind == "send_message":
            return {"prompt": text(config, "prompt")}
        if kind == "run_app":
            app_input = config.get("app_input", {})
            if not isinstance(app_input, dict):
                raise Invalid(422, "action_config.app_input: expected an object")
            return {"app_id": text(config, "app_id"), "app_input": app_input}
        raise Invalid(422, f"action_type: expected send_message or run_app, not {kind!r}")

    def writable(self, body: Task) -> Task:
        tz = body.get("timezone", "UTC")
        zone(tz)
        config, label = self.schedule(body.get("schedule_type"), body.get("schedule_config"))
        return {
            "name": text(body, "name"),
            "enabled": flag(body, "enabled", True),
            "schedule_type": body["schedule_type"],
            "schedule_config": config,
            "cron_expr": label,
            "timezone": tz,
            "action_type": body.get("action_type"),
            "action_config": self.action(body.get("action_type"), body.get("action_config")),
        }

    def new(self, task_id: str, body: Task, now: datetime) -> Task:
        task = {"id": task_id, **self.writable(body)}
        task.update(
            session_id=None,
            run_count=0,
            last_run_at=None,
            last_status=None,
            last_error=None,
            created_at=stamp(now),
            updated_at=stamp(now),
        )
        return self.reschedule(task, now)

    def edit(self, task: Task, body: Task, now: datetime) -> Task:
        kept = {k: task[k] for k in ("id", "session_id", "run_count", "last_run_at", "last_status",
                                      "last_error", "created_at")}  # fmt: skip
        return self.reschedule({**kept, **self.writable(body), "updated_at": stamp(now)}, now)

    def reschedule(self, task: Task, now: datetime) -> Task:
        nxt: datetime | None = None
        if task["enabled"]:
            if task["schedule_type"] == "interval":
                config = task["schedule_config"]
                every = timedelta(seconds=config["every"] * self.units[config["unit"]])
                nxt = interval_next(every, parse_stamp(task["created_at"], "created_at"), now)
            else:
                nxt = cron_next(task["cron_expr"], task["timezone"], now)
        task["next_run_at"] = stamp(nxt)
        return task

    def page(self, items: list[Task], cursor: str | None, path: str) -> Task:
        nxt = None if cursor is None else f"{path}?cursor={cursor}"
        return {"data": items, "has_more": cursor is not None, "next": nxt}


# ---------------------------------------------------------------------------------------------
# Storage and routes


class Store:
    """Tasks by scope, in creation order; a cursor names the last sequence number seen."""

    def __init__(self, platform: Engine | Aitroop) -> None:
        self.platform = platform
        self.lock = threading.Lock()
        self.seqs: dict[str, list[int]] = {}  # scope -> sequence numbers, ascending
        self.tasks: dict[tuple[str, int], Task] = {}
        self.where: dict[str, tuple[str, int]] = {}  # id -> (scope, seq)
        self.counter = itertools.count(1)

    def create(self, scope: str, body: Any) -> Task:
        if not isinstance(body, dict):
            raise Invalid(422, "expected a JSON object")
        with self.lock:
            seq = next(self.counter)
            task = self.platform.new(f"{self.platform.prefix}{seq:08x}", body, now_utc())
            self.seqs.setdefault(scope, []).append(seq)
            self.tasks[scope, seq] = task
            self.where[task["id"]] = (scope, seq)
            return task

    def _find(self, scope: str, task_id: str) -> tuple[str, int]:
        place = self.where.get(task_id)
        if place is None or place[0] != scope:
            raise Invalid(404, "task not found")
        return place

    def get(self, scope: str, task_id: str) -> Task:
        with self.lock:
            return self.tasks[self._find(scope, task_id)]

    def update(self, scope: str, task_id: str, body: Any) -> Task:
        if not isinstance(body, dict):
            raise Invalid(422, "expected a JSON object")
        with self.lock:
            place = self._find(scope, task_id)
            self.tasks[place] = self.platform.edit(self.tasks[place], body, now_utc())
            return self.tasks[place]

    def delete(self, scope: str, task_id: str) -> None:
        with self.lock:
            place = self._find(scope, task_id)
            del self.tasks[place], self.where[task_id]
            seqs = self.seqs[scope]
            seqs.pop(bisect.bisect_left(seqs, place[1]))

    def page(self, scope: str, cursor: str | None, limit: int) -> tuple[list[Task], str | None]:
        after = 0
        if cursor is not None:
            try:
                after = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("s:"))
            except ValueError:
                raise Invalid(400, f"cursor: {cursor!r} is not a cursor of this listing") from None
        with self.lock:
            seqs = self.seqs.get(scope, [])
            start = bisect.bisect_right(seqs, after)
            chosen = seqs[start : start + limit]
            items = [self.tasks[scope, seq] for seq in chosen]
            more = start + limit < len(seqs)
        nxt = base64.urlsafe_b64encode(f"s:{chosen[-1]}".encode()).decode() if more else None
        return items, nxt


ENGINE_PATH = re.compile(r"/api/instances/([a-z0-9-]+)/scheduled-tasks(?:/([A-Za-z0-9_]+))?")
AITROOP_PATH = re.compile(r"/api/scheduled-tasks(?:/([A-Za-z0-9_]+))?")


def make_handler(store: Store, latency: float, page_size: int) -> type[BaseHTTPRequestHandler]:
    platform = store.platform
    pattern = ENGINE_PATH if isinstance(platform, Engine) else AITROOP_PATH

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            head = (
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            )
            self.wfile.write(head.encode() + data)  # one write: no Nagle stall between parts

        def route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            time.sleep(latency)
            try:
                status, body = self.dispatch(method, raw)
            except Invalid as exc:
                status, body = exc.status, {"error": str(exc)}
            self.answer(status, body)

        def dispatch(self, method: str, raw: bytes) -> tuple[int, Any]:
            url = urlsplit(self.path)
            match = pattern.fullmatch(url.path)
            if match is None:
                raise Invalid(404, f"no route {url.path}")
            scope, task_id = match.groups() if isinstance(platform, Engine) else ("", match[1])
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise Invalid(400, "the body is not JSON") from None
            if task_id is None:
                if method == "GET":
                    query = parse_qs(url.query)
                    limit = int(query.get("limit", [page_size])[0])
                    items, nxt = store.page(scope, query.get("cursor", [None])[0], limit)
                    return 200, platform.page(items, nxt, url.path)
                if method == "POST":
                    return 201, store.create(scope, body)
            elif method == "GET" and isinstance(platform, Engine):
                return 200, store.get(scope, task_id)
            elif method == platform.update_method:
                return 200, store.update(scope, task_id, body)
            elif method == "DELETE":
                store.delete(scope, task_id)
                return 204, None
            raise Invalid(405, f"{method} is not allowed on {url.path}")

        def do_GET(self) -> None:
            self.route("GET")

        def do_POST(self) -> None:
            self.route("POST")

        def do_PUT(self) -> None:
            self.route("PUT")

        def do_PATCH(self) -> None:
            self.route("PATCH")

        def do_DELETE(self) -> None:
            self.route("DELETE")

    return Handler


def main() -> None:
    name, latency_ms, page_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = Store(Engine() if name == "engine" else Aitroop())
    if len(sys.argv) > 4:
        with open(sys.argv[4], encoding="utf-8") as seed:
            for body in json.load(seed):
                store.create("bench" if name == "engine" else "", body)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), make_handler(store, latency_ms / 1000, page_size)
    )
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

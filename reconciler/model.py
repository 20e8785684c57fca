"""The neutral models: what a schedule file and the config say, independent of any platform.

Pure: no I/O. The JSON schemas in schemas/ are generated from these classes (`schedctl schema`),
so every description and example here is what an editor shows on hover.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
OWNER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# A preset's time may leave its hour or minute to a hash of the schedule's key: `09:H`,
# `H:30`, `09:H(0-29)`, `H` alone (= `H:H`, any minute of the day). See reconciler/spread.py.
_H_PART = r"H(\([0-9]{1,2}-[0-9]{1,2}\))?"
HASHED_TIME_PATTERN = rf"^(H|([01][0-9]|2[0-3]|{_H_PART}):([0-5][0-9]|{_H_PART}))$"
_TIME_HELP = "Wall-clock time HH:MM; H for the hour or minute picks one from the key (09:H, H)."
# `{{ item }}`, `{{ item.field }}`, `{{ vars.name }}` (checked by reconciler/fleet.py).
PLACEHOLDER_PATTERN = r"\{\{[^{}]*\}\}"
KEY_TEMPLATE_PATTERN = rf"^([a-z0-9-]|{PLACEHOLDER_PATTERN})+$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Compound durations ("1h30m"); the validator rejects the empty and all-zero ones.
DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
_DURATION_PARTS = re.compile(r"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
# What datetime arithmetic can hold: longer intervals, and instants within a day of datetime's
# own limits (which may not convert to UTC or to another zone), are refused.
MAX_INTERVAL = timedelta.max
EARLIEST = date(1, 1, 2)
LATEST = date(9999, 12, 30)

SCHEDULE_FORMS = ("cron", "every", "at", "daily", "weekly", "monthly")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WEEKDAY_FULL = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
DEFAULT_OWNER = "schedctl"
DEFAULT_GLOBS = ("schedules/**/*.y*ml",)  # .yaml and .yml


@lru_cache(maxsize=1024)
def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA zone in the zone database, else raise ValueError."""
    # ZoneInfo also opens files such as "localtime", "posixrules", the posix/ and right/ copies,
    # and on a case-insensitive disk "europe/rome": only the database's own names pass.
    if (
        not ZONE_NAME.match(name)
        or name in {"localtime", "posixrules", "Factory"}
        or name not in _zone_names()
    ):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name like Europe/Rome)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name like Europe/Rome)"
        ) from None
    return name


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _too_long(duration: str) -> bool:
    """Whether a DURATION_PATTERN text is longer than a timedelta can hold."""
    match = _DURATION_PARTS.match(duration)
    if match is None:
        return False
    if any(len(n) > 15 for n in match.groups() if n):  # also keeps int() off huge digit runs
        return True
    days, hours, minutes, seconds = (int(n) if n else 0 for n in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return total > MAX_INTERVAL.total_seconds()


def check_instant(value: datetime) -> datetime:
    """`value` if datetime arithmetic can hold it in any zone, else raise ValueError."""
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def weekday_number(value: int | str) -> int:
    """0=Sunday .. 6=Saturday; 7 is Sunday too, names are lowercase `mon` or `monday`."""
    if isinstance(value, bool):
        raise ValueError("a weekday is a name (mon..sun) or a number 0-7")
    if isinstance(value, int):
        if 0 <= value <= 7:
            return value % 7
        raise ValueError(f"weekday {value} is out of range 0-7 (0 and 7 are Sunday)")
    text = str(value)
    if text in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(text)
    if text in WEEKDAY_FULL:
        return WEEKDAY_FULL.index(text)
    raise ValueError(
        f"unknown weekday {text!r} (expected one of mon, tue, wed, thu, fri, sat, sun)"
    )


class StrictModel(BaseModel):
    """Unknown keys are errors everywhere: a typo must never be silently ignored."""

    # strict: YAML `enabled: "yes"` or `max_retries: "3"` are errors, as in the JSON schema.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _time_text(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """An H time passes as written (spread.py resolves it); any other text is a plain HH:MM."""
    if isinstance(value, str) and "H" in value:
        if re.match(HASHED_TIME_PATTERN, value):
            return value
        raise ValueError(
            f"invalid time {value!r}: expected HH:MM with H for the hour or the minute "
            "(09:H, H:30, 09:H(0-29)), or H alone"
        )
    return handler(value)


TimeText = Annotated[
    str,
    Field(pattern=TIME_PATTERN),
    WrapValidator(_time_text),
    WithJsonSchema({"type": "string", "pattern": HASHED_TIME_PATTERN}),
]

Weekday = Annotated[
    int,
    BeforeValidator(weekday_number),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 7},
                {"enum": list(WEEKDAY_NAMES + WEEKDAY_FULL)},
            ],
            "description": "A weekday: mon..sun (or monday..sunday), or 0-7 with 0 and 7 = Sunday.",
        }
    ),
]


class Weekly(StrictModel):
    at: TimeText = Field(description=_TIME_HELP, examples=["08:30"])
    days: list[Weekday] = Field(
        min_length=1,
        description="Days of the week: names (mon..sun) or numbers (0 and 7 = Sunday).",
        examples=[["mon", "wed", "fri"]],
    )

    @field_validator("days", mode="after")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError("a weekday is listed twice")
        return days

    def day_numbers(self) -> list[int]:
        """Sorted 0=Sunday .. 6=Saturday."""
        return sorted(self.days)


class Monthly(StrictModel):
    at: TimeText = Field(description=_TIME_HELP, examples=["09:00"])
    day: int = Field(ge=1, le=31, description="Day of the month, 1-31.", examples=[1])


# A date and time, with or without a UTC offset (without: wall time in the schedule's zone).
ISO_DATETIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9]([.,][0-9]{1,6})?)?([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$"
)


def _iso_datetime_text(value: object) -> object:
    """Only ISO 8601 text (or a datetime from Python): not epoch numbers, not bare dates."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.match(ISO_DATETIME_PATTERN, value):
        return value
    raise ValueError(
        f"expected an ISO 8601 date and time such as 2026-12-24T09:00:00+01:00, not {value!r}"
    )


IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime_text),
    WithJsonSchema({"type": "string", "pattern": ISO_DATETIME_PATTERN}),
]


class ScheduleSpec(StrictModel):
    """When a task fires: exactly one of cron, every, at, daily, weekly, monthly."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": [form]} for form in SCHEDULE_FORMS],
            "dependentRequired": {"anchor": ["every"]},
        }
    )

    cron: str | None = Field(
        default=None,
        description="5-field POSIX cron; names and @daily-style macros allowed. H in a field "
        "picks a value from the schedule's key: H, H(0-29), H/15.",
        examples=["0 9 * * 1-5", "@daily", "H 9 * * 1-5"],
    )
    every: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        description="Fixed interval of elapsed time: 90s, 15m, 2h, 1d, 1h30m.",
        examples=["15m"],
    )
    anchor: IsoDateTime | None = Field(
        default=None,
        strict=False,
        description="With `every`: the instant the intervals count from (ISO 8601).",
        examples=["2026-01-01T00:00:00Z"],
    )
    at: IsoDateTime | None = Field(
        default=None,
        strict=False,
        description="One-shot: fire once at this ISO 8601 instant.",
        examples=["2026-12-24T09:00:00+01:00"],
    )
    daily: TimeText | None = Field(
        default=None,
        description="Every day at HH:MM (H for the hour or minute: 09:H, H).",
        examples=["09:00", "09:H"],
    )
    weekly: Weekly | None = Field(default=None, description="Some weekdays at HH:MM.")
    monthly: Monthly | None = Field(default=None, description="One day a month at HH:MM.")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of the wall clock (default: the config's, else UTC).",
        examples=["Europe/Rome"],
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and not any(ch in "123456789" for ch in value):  # "", "0m"
            raise ValueError("an interval must be longer than zero")
        if value is not None and _too_long(value):
            raise ValueError(f"an interval must be at most {MAX_INTERVAL.days} days")
        return value

    @field_validator("anchor")
    @classmethod
    def _anchor(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # A field check, so that the error names the anchor's line. `every` comes first: it is
        # in info.data when it validated.
        if value is not None and "every" in info.data and info.data["every"] is None:
            raise ValueError(
                "an anchor goes only with `every` (it is where the intervals count from)"
            )
        return None if value is None else check_instant(value)

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        return None if value is None else check_instant(value)

    @model_validator(mode="after")
    def _one_form(self) -> ScheduleSpec:
        given = self.forms()
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"exactly one of {', '.join(SCHEDULE_FORMS)} is required (found: {found})"
            )
        return self

    def forms(self) -> list[str]:
        return [f for f in SCHEDULE_FORMS if getattr(self, f) is not None]

    @property
    def form(self) -> str:
        return self.forms()[0]


class AppAction(StrictModel):
    id: str = Field(
        min_length=1, description="The app to run (aitroop run_app).", examples=["app_123"]
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="Inputs passed to the app verbatim.",
        examples=[{"company_name": "Stripe"}],
    )


class Action(StrictModel):
    """What a run does: exactly one of prompt or app."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["prompt"]}, {"required": ["app"]}]}
    )

    prompt: str | None = Field(
        default=None,
        min_length=1,
        description="The message sent to the agent when the task fires.",
        examples=["Summarise the last day."],
    )
    app: AppAction | None = Field(default=None, description="Run an app with inputs instead.")

    @model_validator(mode="after")
    def _one_action(self) -> Action:
        if (self.prompt is None) == (self.app is None):
            raise ValueError("exactly one of prompt or app is required")
        return self


class Deliver(StrictModel):
    channel: Literal["slack", "telegram", "whatsapp"] = Field(
        description="Where the answer is sent."
    )
    target: str = Field(min_length=1, description="Channel or user id.", examples=["C012345678"])


class ScheduleBody(StrictModel):
    """The fields a per-target override may change."""

    title: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Display name on the platform (default: name).",
    )
    description: str | None = Field(default=None, description="Free text: what the task is for.")
    enabled: bool = Field(default=True, description="Disabled tasks never fire.")
    schedule: ScheduleSpec
    action: Action
    deliver: Deliver | None = Field(
        default=None, description="Engine only: where the answer is delivered."
    )
    history: Literal["keep", "fresh"] = Field(
        default="keep", description="keep: one conversation per schedule; fresh: a new one per run."
    )
    max_retries: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Auto-disable after this many consecutive errors (engine default 3).",
    )
    delete_after_run: bool = Field(
        default=False, description="One-shots only: retire after a successful run."
    )

    @field_validator("delete_after_run")
    @classmethod
    def _delete_after_run(cls, value: bool, info: ValidationInfo) -> bool:
        # A field check, so that the error names this line; `schedule` comes first.
        schedule = info.data.get("schedule")
        if value and schedule is not None and schedule.at is None:
            raise ValueError("only a one-shot `at` schedule can be deleted after its run")
        return value


class Schedule(ScheduleBody):
    """One schedule file document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "morning-digest",
                    "title": "Morning digest",
                    "schedule": {"cron": "0 9 * * *", "timezone": "Europe/Rome"},
                    "action": {
                        "prompt": "Summarise the three most important events of the last day."
                    },
                    "deliver": {"channel": "slack", "target": "C012345678"},
                }
            ]
        }
    )

    name: str = Field(
        pattern=KEY_PATTERN,
        description="The key: lowercase letters, digits and dashes; unique per target.",
        examples=["morning-digest"],
    )
    targets: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Targets this schedule goes to (default: the config's defaults).",
    )
    overrides: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Per-target changes, deep-merged over this document."
    )
    spread: bool | None = Field(
        default=None,
        description="Choose the H values so that no minute holds more tasks than the platform "
        "starts per tick (default: the config's defaults.spread).",
    )

    @property
    def display_title(self) -> str:
        return self.title or self.name


TemplateText = Annotated[str, Field(pattern=PLACEHOLDER_PATTERN)]


class DeliverTemplate(Deliver):
    channel: Literal["slack", "telegram", "whatsapp"] | TemplateText = Field(  # type: ignore[assignment]
        description="Where the answer is sent (or a placeholder)."
    )


class ScheduleTemplate(Schedule):
    """A schedule with placeholders: `{{ item }}`, `{{ item.field }}`, `{{ vars.name }}` in
    name, title, description, action.prompt, action.app.input, deliver and targets."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "digest-{{ item.slug }}",
                    "title": "{{ item.name }} digest",
                    "schedule": {"cron": "H 9 * * 1-5", "timezone": "Europe/Rome"},
                    "action": {"prompt": "Summarise yesterday for {{ item.name }}."},
                    "spread": True,
                }
            ]
        }
    )

    name: str = Field(
        pattern=KEY_TEMPLATE_PATTERN,
        description="The key pattern: each item's key, unique per target.",
        examples=["digest-{{ item }}"],
    )
    targets: list[str] | TemplateText | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        description="Targets of every schedule, or a placeholder holding a list.",
    )
    deliver: DeliverTemplate | None = Field(
        default=None, description="Engine only: where the answer is delivered."
    )


ForEachItem = Annotated[
    str | int | float | bool | dict[str, Any],
    Field(description="One item: a value (`{{ item }}`) or a mapping (`{{ item.field }}`)."),
]


class Fleet(StrictModel):
    """A template document: one schedule per item of `for_each`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "fleet": "digest",
                    "description": "customer digests",
                    "for_each": [{"slug": "acme", "name": "Acme"}],
                    "template": {
                        "name": "digest-{{ item.slug }}",
                        "schedule": {"daily": "09:H"},
                        "action": {"prompt": "Summarise yesterday for {{ item.name }}."},
                    },
                }
            ]
        }
    )

    fleet: str | None = Field(
        default=None,
        pattern=KEY_PATTERN,
        description="The fleet's name in plans and messages, `digest[acme]` (default: the "
        "fixed text of the template's name).",
        examples=["digest"],
    )
    description: str | None = Field(
        default=None, description="What the fleet is for: shown beside its group in plans."
    )
    for_each: list[ForEachItem] | Annotated[str, Field(pattern=VAR_PATTERN)] = Field(
        description="The items: a list here, or the name of a list in the config's `vars`.",
        examples=[["acme", "globex"], "customers"],
    )
    template: ScheduleTemplate = Field(description="The schedule made for each item.")


class Target(StrictModel):
    platform: str = Field(
        description="Provider name: engine, aitroop, or a plugin's.", examples=["engine"]
    )
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="Base URL of the platform API."
    )
    instance: str | None = Field(
        default=None, description="Engine instance slug.", examples=["acme"]
    )
    token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the API token (never the token).",
        examples=["ENGINE_TOKEN"],
    )
    sandbox: str | None = Field(
        default=None,
        description="Run the embedded sandbox stored in this SQLite file instead of a URL.",
    )
    verify_tls: bool = Field(
        default=True, description="Turning this off prints a warning on every use."
    )

    @model_validator(mode="after")
    def _where(self) -> Target:
        if (self.url is None) == (self.sandbox is None):
            raise ValueError("a target needs exactly one of url or sandbox")
        return self


class Defaults(StrictModel):
    timezone: str | None = Field(default=None, description="Zone for schedules that name none.")
    targets: list[str] | None = Field(
        default=None, min_length=1, description="Targets for schedules that name none."
    )
    spread: bool = Field(
        default=False, description="`spread` for schedules and templates that do not say."
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class Config(StrictModel):
    """schedctl.yaml"""

    owner: str = Field(
        default=DEFAULT_OWNER,
        pattern=OWNER_PATTERN,
        description="Ownership scope: only objects marked with this owner are ever changed.",
        examples=["acme-schedules"],
    )
    schedules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GLOBS),
        min_length=1,
        description="Globs of schedule files, relative to the config file.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    targets: dict[str, Target] = Field(
        default_factory=lambda: {
            "local": Target(platform="engine", sandbox=".schedctl/sandbox.db")
        },
        description="Where schedules go, by name.",
    )
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Named values for templates: `for_each: NAME` or `{{ vars.NAME }}`.",
        examples=[{"customers": ["acme", "globex"], "channel": "C012345678"}],
    )

    @field_validator("targets")
    @classmethod
    def _target_names(cls, targets: dict[str, Target]) -> dict[str, Target]:
        for name in targets:
            if not re.match(TARGET_PATTERN, name):
                raise ValueError(f"target name {name!r} must match {TARGET_PATTERN}")
        if not targets:
            raise ValueError("at least one target is required")
        return targets

    @field_validator("vars")
    @classmethod
    def _var_names(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name in values:
            if not re.match(VAR_PATTERN, name):
                raise ValueError(f"var name {name!r} must be a word (letters, digits, _)")
        return values

    @model_validator(mode="after")
    def _defaults_known(self) -> Config:
        for name in self.defaults.targets or ():
            if name not in self.targets:
                raise ValueError(f"defaults.targets names unknown target {name!r}")
        return self

    def default_targets(self) -> list[str]:
        if self.defaults.targets:
            return list(self.defaults.targets)
        # One target needs no default; several do, so nothing is deployed by accident.
        return list(self.targets) if len(self.targets) == 1 else []

"""The neutral models: what a schedule file and the config say, independent of any platform.

Pure: no I/O. The JSON schemas in schemas/ are generated from these classes (`schedctl schema`),
so every description and example here is what an editor shows on hover.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import re
import unicodedata
import zoneinfo
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import PurePosixPath
from sys import intern
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
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

from reconciler import timing
from reconciler.timing import weekday_number

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
OWNER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
TIME_PATTERN = timing.CLOCK_PATTERN
# A preset's time may leave its hour or minute to a hash of the schedule's key: `09:H`,
# `H:30`, `09:H(0-29)`, `H` alone (= `H:H`, any minute of the day). See reconciler/spread.py.
_H_PART = r"H(\([0-9]{1,2}-[0-9]{1,2}\))?"
HASHED_TIME_PATTERN = rf"^(H|({timing.HOUR}|{_H_PART}):({timing.MINUTE}|{_H_PART}))$"
_TIME_HELP = "Wall-clock time HH:MM; H for the hour or minute picks one from the key (09:H, H)."
# `{{ item }}`, `{{ item.field }}`, `{{ vars.name }}` (checked by reconciler/fleet.py).
PLACEHOLDER_PATTERN = r"\{\{[^{}]*\}\}"
KEY_TEMPLATE_PATTERN = rf"^([a-z0-9-]|{PLACEHOLDER_PATTERN})+$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Compound durations ("1h30m"); the validator rejects the empty and all-zero ones.
DURATION_PATTERN = timing.DURATION_PATTERN
ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
_LONG_COUNT = re.compile(r"[0-9]{16}")
# What datetime arithmetic can hold: longer intervals, and instants within a day of datetime's
# own limits (which may not convert to UTC or to another zone), are refused.
MAX_INTERVAL = timedelta.max
EARLIEST = date(1, 1, 2)
LATEST = date(9999, 12, 30)

SCHEDULE_FORMS = ("cron", "every", "at", "daily", "weekly", "monthly")
WEEKDAY_NAMES = timing.WEEKDAY_NAMES
WEEKDAY_FULL = timing.WEEKDAY_FULL
DEFAULT_OWNER = "schedctl"
DEFAULT_GLOBS = ("schedules/**/*.y*ml",)  # .yaml and .yml
# An instance is one path segment of the engine API: a slug, never `..`, `?`, `#` or `/`.
INSTANCE_PATTERN = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$"
INSTANCE_MAX = 63
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A base URL: http(s), a host (an IPv6 address in brackets), an optional port and path; no
# user name or password, query, fragment, spaces or control characters. The same text is the
# JSON schema's pattern (ECMA and Python regex agree on it); `url_problem` says what is wrong.
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(\[[0-9A-Fa-f:.]+\]|[^\s\x00-\x1f\x7f\\@/?#\[\]:]+)"
    r"(:[0-9]{1,5})?"
    r"(/[^\s\x00-\x1f\x7f\\@?#\[\]]*)?$"
)
_URL = re.compile(URL_PATTERN)
DEFAULT_PORTS = {"http": 80, "https": 443}
URL_EXAMPLE = "https://engine.example.com"
GLOB_EXAMPLE = "schedules/**/*.yaml"


# Files of the zone database that name no zone.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1024)
def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA zone in the zone database, else raise ValueError."""
    # ZoneInfo also opens files such as "localtime", "posixrules", the posix/ and right/ copies,
    # and on a case-insensitive disk "europe/rome": only the database's own names pass.
    if not ZONE_NAME.match(name) or name in _NOT_ZONES or not _listed_zone(name):
        raise ValueError(_unknown_zone(name))
    try:
        timing.get_zone(name)  # the database lists it; this says whether it loads
    except ValueError:
        raise ValueError(_unknown_zone(name)) from None
    return intern(name)  # a zone's name repeats in schedule after schedule: one string each


def _unknown_zone(name: str) -> str:
    from reconciler.explain import zone_hint  # only on the error path

    zones = (z for z in _zone_names() - _NOT_ZONES if ZONE_NAME.match(z))
    return f"unknown time zone {name!r}{zone_hint(name, zones)}"


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _listed_zone(name: str) -> bool:
    """`name in available_timezones()`, found as that walk would find it but along `name`
    alone: listing the whole database opens each of its hundreds of files."""
    if name == "posixrules":
        return False
    parts = name.split("/")
    if len(parts) == 1 or parts[0] not in ("right", "posix"):  # the walk skips those two
        for root in zoneinfo.TZPATH:  # read now: reset_tzpath() may have changed it
            if _walk_finds(root, parts):
                return True
    return name in _tzdata_zones()


def _walk_finds(root: str, parts: list[str]) -> bool:
    """Whether os.walk(root) lists the file root/parts[0]/.../parts[-1] and it is a zone."""
    directory = root
    for i, part in enumerate(parts):
        try:
            with os.scandir(directory) as entries:
                entry = next((e for e in entries if e.name == part), None)
        except OSError:  # the walk skips what it cannot list
            return False
        if entry is None:
            return False
        if i == len(parts) - 1:  # a file, not a directory; and its magic says TZif
            if entry.is_dir():
                return False
            try:
                with open(entry.path, "rb") as file:
                    return file.read(4) == b"TZif"
            except OSError:
                return False
        if not entry.is_dir() or entry.is_symlink():  # the walk goes into no link
            return False
        directory = entry.path
    return False


@lru_cache(maxsize=1)
def _tzdata_zones() -> frozenset[str]:
    """The zones the tzdata package lists (the first of available_timezones' sources)."""
    from importlib import resources

    try:
        with resources.files("tzdata").joinpath("zones").open("r") as f:
            return frozenset(zone.strip() for zone in f if zone.strip())
    except (ImportError, FileNotFoundError):
        return frozenset()


def _too_long(duration: str) -> bool:
    """Whether a DURATION_PATTERN text is longer than a timedelta can hold."""
    if _LONG_COUNT.search(duration):  # also keeps int() off huge digit runs
        return re.fullmatch(DURATION_PATTERN, duration) is not None
    total = timing.duration_seconds(duration)
    return total is not None and total > MAX_INTERVAL // timedelta(seconds=1)  # a float rounds up


def check_instant(value: datetime) -> datetime:
    """`value` if datetime arithmetic can hold it in any zone, else raise ValueError."""
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


# ---------------------------------------------------------------------------------------------
# Config values: globs, URLs, token variables, instances


def check_glob(pattern: str) -> str:
    """A schedule glob that pathlib can match against files, else raise ValueError.

    One leaving the repository is the loader's to report (with the links it follows).
    """
    parts = PurePosixPath(pattern).parts
    if pattern.startswith("/") or ".." in parts:
        return pattern
    if not pattern.strip("./"):  # "", ".", "./": pathlib would glob the directory itself
        raise ValueError(
            f"schedule glob {pattern!r} names the whole repository, not schedule files: "
            f"write a pattern such as {GLOB_EXAMPLE}"
        )
    if any("**" in part and part != "**" for part in parts):
        raise ValueError(
            f"schedule glob {pattern!r}: `**` must be a whole path component, as in {GLOB_EXAMPLE}"
        )
    return pattern


def _unprintable(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text)


def url_problem(url: str) -> str | None:
    """What is wrong with a target's base URL, in plain words, or None.

    Never quotes the URL: it may hold a password.
    """
    if _unprintable(url):
        return (
            "a URL must not contain spaces, control or invisible characters (write a space as %20)"
        )
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"not a URL: write the platform's address, e.g. {URL_EXAMPLE}"
    if scheme.lower() not in DEFAULT_PORTS:
        return f"the scheme must be http or https, e.g. {URL_EXAMPLE}"
    if "@" in url:
        return (
            "a URL must not hold a user name or password: tokens come only from the "
            "environment (name the variable in token_env, e.g. token_env: ENGINE_TOKEN)"
        )
    if "?" in rest or "#" in rest:
        return f"a base URL has no ?query or #fragment, e.g. {URL_EXAMPLE}/api"
    authority, _, path = rest.partition("/")
    if "[" in path or "]" in path:
        return "brackets [ ] belong only around an IPv6 host, e.g. http://[::1]:8080"
    port: str | None = None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0 or "[" in authority[1:]:
            return "unbalanced brackets around the host: write an IPv6 host as http://[::1]:8080"
        host, after = authority[: end + 1], authority[end + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "brackets go only around an IPv6 address, e.g. http://[::1]:8080"
        if after and not after.startswith(":"):
            return "unexpected text after the ]: write an IPv6 host as http://[::1]:8080"
        port = after[1:] if after else None
    elif "[" in authority or "]" in authority:
        return "unbalanced brackets around the host: write an IPv6 host as http://[::1]:8080"
    else:
        host, colon, after = authority.partition(":")
        port = after if colon else None
    if not host:
        return f"the URL has no host, e.g. {URL_EXAMPLE}"
    if port is not None and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535
    ):
        return "the port must be a number from 1 to 65535, e.g. https://engine.example.com:8443"
    if not _URL.fullmatch(url):  # anything the checks above did not name
        return f"not a valid http(s) base URL, e.g. {URL_EXAMPLE}"
    return None


def check_url(url: str) -> str:
    problem = url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def normalize_url(url: str) -> str:
    """One spelling for every way of writing a base URL that reaches the same API path.

    Scheme and host lower case (IDN hosts in their ASCII form, IP addresses in their short
    form, no trailing dot), the scheme's default port dropped, percent escapes of plain
    characters decoded and the others in upper case, `.` and `..` segments resolved, no
    trailing slash, and `/` for an empty path: `HTTPS://Engine.Example.com:443/api/` and
    `https://engine.example.com/api` are both `https://engine.example.com/api`. Clients add
    the API path below it, so equal results mean one collection. Expects a URL that
    `url_problem` accepts.
    """
    match = _URL.fullmatch(url)
    if match is None:
        raise ValueError(f"not a valid http(s) base URL, e.g. {URL_EXAMPLE}")
    scheme = url.partition(":")[0].lower()
    host = match.group(1)
    if host.startswith("["):
        with contextlib.suppress(ValueError):
            host = f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        host = host.lower()
    else:
        host = _PERCENT.sub(_unescape, host).lower().rstrip(".") or host.lower()
        if not host.isascii():
            # Not a valid IDN: the text as written identifies it.
            with contextlib.suppress(UnicodeError):
                host = host.encode("idna").decode("ascii")
        with contextlib.suppress(ValueError):
            host = str(ipaddress.IPv4Address(host))
    port = match.group(2)
    netloc = (
        host
        if port is None or int(port[1:]) == DEFAULT_PORTS[scheme]
        else f"{host}:{int(port[1:])}"
    )
    segments: list[str] = []
    for segment in _PERCENT.sub(_unescape, match.group(3) or "").split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    return f"{scheme}://{netloc}{path.rstrip('/') or '/'}"


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else f"%{match[1].upper()}"


# A token pasted where the variable's name goes: a known token prefix, or a long run that
# changes between upper case, lower case and digits as often as random text does.
_TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat", "xox", "eyJ")


def looks_like_token(value: str) -> bool:
    if len(value) > 64 or value.startswith(_TOKEN_PREFIXES):
        return True
    for run in re.split(r"[^A-Za-z0-9]+", value):
        if len(run) >= 24 and any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
        changes = sum(_kind(a) != _kind(b) for a, b in itertools.pairwise(run))
        if len(run) >= 16 and changes >= 0.4 * len(run):
            return True
    return False


def _kind(char: str) -> int:
    return 0 if char.isdigit() else 1 if char.isupper() else 2


def check_token_env(value: str) -> str:
    """The name of an environment variable, else ValueError. Never quotes the value."""
    if looks_like_token(value):
        raise ValueError(
            "this looks like a token, not the name of an environment variable: keep the token "
            "in the environment and name its variable here, e.g. token_env: ENGINE_TOKEN "
            "(and revoke the token if this file was shared)"
        )
    if not re.fullmatch(ENV_NAME_PATTERN, value):
        hint = " without the $" if value.startswith("$") else ""
        raise ValueError(
            "must be the name of an environment variable (letters, digits and _, not starting "
            f"with a digit){hint}, e.g. token_env: ENGINE_TOKEN"
        )
    return value


def check_instance(value: str) -> str:
    if len(value) > INSTANCE_MAX or not re.fullmatch(INSTANCE_PATTERN, value):
        raise ValueError(
            "an instance is a slug: lowercase letters, digits, - and _ (single dots between "
            f"them), starting with a letter or digit, at most {INSTANCE_MAX} characters, "
            "e.g. instance: acme"
        )
    return value


BaseUrl = Annotated[
    str, AfterValidator(check_url), WithJsonSchema({"type": "string", "pattern": URL_PATTERN})
]
TokenEnv = Annotated[
    str,
    AfterValidator(check_token_env),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME_PATTERN}),
]
Instance = Annotated[
    str,
    AfterValidator(check_instance),
    WithJsonSchema({"type": "string", "pattern": INSTANCE_PATTERN, "maxLength": INSTANCE_MAX}),
]
# The schema's pattern: a glob names something besides `.` and `/` (the rest is semantic).
Glob = Annotated[
    str, AfterValidator(check_glob), WithJsonSchema({"type": "string", "pattern": "[^./]"})
]


class StrictModel(BaseModel):
    """Unknown keys are errors everywhere: a typo must never be silently ignored."""

    # strict: YAML `enabled: "yes"` or `max_retries: "3"` are errors, as in the JSON schema.
    # defer_build: a model validated only inside another (or only for templates) builds its
    # own validator when first used, not at every start; Schedule and Config build at import.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    @model_validator(mode="after")
    def _share_fields_set(self) -> StrictModel:
        # Which fields a document gave is one of a few sets per model, and a set is 216 bytes
        # of every model of every schedule: instances share one copy (frozen models never
        # change it; pydantic copies it before model_copy() adds to it).
        given = self.__pydantic_fields_set__
        object.__setattr__(
            self, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(frozenset(given), given)
        )
        return self


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


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
    rf"^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]({timing.HOUR}):{timing.MINUTE}"
    rf"(:{timing.MINUTE}([.,][0-9]{{1,6}})?)?([Zz]|[+-]({timing.HOUR})(:?{timing.MINUTE})?)?$"
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


# Fields `ignore_changes` may name: a document field, or `prompt` for `action.prompt`.
IgnorableField = Literal[
    "title",
    "description",
    "enabled",
    "schedule",
    "action",
    "prompt",
    "deliver",
    "history",
    "max_retries",
    "delete_after_run",
]


def _interval_text(value: str) -> str:
    """A DURATION_PATTERN text that is longer than zero and fits a timedelta."""
    if not any(ch in "123456789" for ch in value):  # "", "0m"
        raise ValueError("an interval must be longer than zero, e.g. 15m")
    if _too_long(value):
        raise ValueError(f"an interval must be at most {MAX_INTERVAL.days} days")
    return value


Interval = Annotated[str, Field(pattern=DURATION_PATTERN), AfterValidator(_interval_text)]


class Estimate(StrictModel):
    """What one run of a task not yet live is expected to cost (until its run log says)."""

    tokens: int = Field(ge=0, description="Tokens one run uses.", examples=[12000])


class Budget(StrictModel):
    """Limits on each schedule it covers (a target's, or a key glob's in `budgets`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"max_runs_per_day": 96, "min_interval": "15m"}],
            "minProperties": 1,
        }
    )

    max_runs_per_day: float | None = Field(
        default=None,
        gt=0,
        description="Runs per day one schedule may make, on an average day.",
        examples=[96],
    )
    max_tokens_per_day: int | None = Field(
        default=None,
        ge=0,
        description="Tokens per day one schedule may use: runs per day x tokens per run (the "
        "run log's median, else the schedule's `estimate`).",
        examples=[2_000_000],
    )
    min_interval: Interval | None = Field(
        default=None,
        description="The shortest time one schedule may leave between two runs.",
        examples=["15m"],
    )
    max_concurrent_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Schedules this budget covers that may be due in the same minute.",
        examples=[3],
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if not self.model_fields_set:
            raise ValueError(
                "a budget names at least one limit, e.g. {max_runs_per_day: 96, min_interval: 15m}"
            )
        return self


class Pricing(StrictModel):
    """What tokens cost, for money figures in plans."""

    per_1k_tokens: float = Field(ge=0, description="Price of 1,000 tokens.", examples=[0.01])
    currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the currency.",
        examples=["USD", "EUR"],
    )


class CostSettings(StrictModel):
    """Cost in plans: read from the platforms' run logs for the tasks a plan changes."""

    last_runs: int = Field(
        default=20,
        ge=1,
        le=500,
        description="Runs of each task whose median tokens and duration are its cost per run.",
    )


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
    estimate: Estimate | None = Field(
        default=None,
        description="Cost of one run while the task has no run log of its own (a new task).",
        examples=[{"tokens": 12000}],
    )
    budget_exception: str | None = Field(
        default=None,
        min_length=1,
        description="Why this schedule may exceed its budgets: the excess is a note, and "
        "plans show the reason, instead of an error.",
        examples=["quarter-end close: reviewed by finance"],
    )
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] | None = Field(
        default=None,
        description="Local runner only (platforms ignore it): environment variables the "
        "`command:` executor passes to its child even though a target names them as its "
        "`token_env`. Without it, no target's token reaches the command.",
        examples=[["ENGINE_TOKEN"]],
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
        defer_build=False,
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
        },
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
    renamed_from: list[Annotated[str, Field(pattern=KEY_PATTERN)]] | None = Field(
        default=None,
        description="Keys this schedule had before: a live task of this owner with one of them "
        "is re-marked with `name` in place (same id, runs and conversation), not recreated.",
        examples=[["daily-digest"]],
    )
    protect: bool = Field(
        default=False,
        description="Never delete this task (not by prune, not as a duplicate) unless "
        "`apply --allow-delete KEY` names it.",
    )
    ignore_changes: list[IgnorableField] | None = Field(
        default=None,
        description="Fields whose live value is left as the platform has it: differences are "
        "shown as ignored drift, never reverted; a create still sends them. Adds to the "
        "target's `ignore_changes`.",
        examples=[["enabled", "prompt"]],
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
        defer_build=True,
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
        },
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
    url: BaseUrl | None = Field(
        default=None,
        description="Base URL of the platform API: http(s), no user name or password.",
        examples=["https://engine.example.com"],
    )
    instance: Instance | None = Field(
        default=None, description="Engine instance slug.", examples=["acme"]
    )
    token_env: TokenEnv | None = Field(
        default=None,
        description="Name of the environment variable holding the API token (never the token).",
        examples=["ENGINE_TOKEN"],
    )
    sandbox: str | None = Field(
        default=None,
        min_length=1,
        # A file name: no control characters (a NUL cannot name a file at all).
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Run the embedded sandbox stored in this SQLite file instead of a URL.",
        examples=[".schedctl/sandbox.db"],
    )
    verify_tls: bool = Field(
        default=True, description="Turning this off prints a warning on every use."
    )
    prune: bool | None = Field(
        default=None,
        description="This target's own prune setting (default: the config's `prune`).",
    )
    ignore_changes: list[IgnorableField] = Field(
        default_factory=list,
        description="Fields ignored on every schedule of this target (see a schedule's "
        "`ignore_changes`).",
        examples=[["enabled"]],
    )
    budget: Budget | None = Field(
        default=None, description="Limits on each schedule of this target."
    )
    pricing: Pricing | None = Field(
        default=None, description="What this target's tokens cost (default: the config's)."
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


def _default_platform() -> str:
    # Asked only when a config names no targets: the registry loads the entry points.
    from reconciler.platforms import default_name

    return default_name()


class Config(StrictModel):
    """schedctl.yaml"""

    model_config = ConfigDict(defer_build=False)

    owner: str = Field(
        default=DEFAULT_OWNER,
        pattern=OWNER_PATTERN,
        description="Ownership scope: only objects marked with this owner are ever changed.",
        examples=["acme-schedules"],
    )
    previous_owners: list[Annotated[str, Field(pattern=OWNER_PATTERN)]] = Field(
        default_factory=list,
        description="Owners this repository was known by before: their objects with a key the "
        "repository has are taken over (re-marked with `owner`, same live id), and the rest "
        "count as this owner's orphans. Without it, another owner's object is a conflict.",
        examples=[["old-team-name"]],
    )
    protect: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Key globs (fnmatch) of tasks never deleted, even once their schedule has "
        "left the repository, unless `apply --allow-delete KEY` names them.",
        examples=[["prod-*", "billing-report"]],
    )
    schedules: list[Glob] = Field(
        default_factory=lambda: list(DEFAULT_GLOBS),
        min_length=1,
        description="Globs of schedule files, relative to the config file.",
    )
    prune: bool = Field(
        default=False,
        description="Delete this owner's objects whose schedule the repository no longer has. "
        "Off: plans show them as orphans and apply keeps them. A target's own `prune` wins; "
        "`--prune` / `--no-prune` override both for one run.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    targets: dict[str, Target] = Field(
        default_factory=lambda: {
            "local": Target(platform=_default_platform(), sandbox=".schedctl/sandbox.db")
        },
        description="Where schedules go, by name.",
    )
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Named values for templates: `for_each: NAME` or `{{ vars.NAME }}`.",
        examples=[{"customers": ["acme", "globex"], "channel": "C012345678"}],
    )
    budgets: dict[Annotated[str, Field(min_length=1)], Budget] = Field(
        default_factory=dict,
        description="Key globs (fnmatch) -> limits on each schedule whose key matches, on "
        "every target (beside the target's own `budget`).",
        examples=[{"monitor-*": {"min_interval": "15m", "max_tokens_per_day": 500000}}],
    )
    pricing: Pricing | None = Field(
        default=None, description="What tokens cost, for money in plans (a target's wins)."
    )
    cost: CostSettings | None = Field(
        default=None,
        description="Show runs, tokens (and money, with `pricing`) per day in plans, from "
        "the run logs of the tasks a plan changes. `cost: {}` turns it on.",
        examples=[{"last_runs": 20}],
    )

    @field_validator("targets")
    @classmethod
    def _target_names(cls, targets: dict[str, Target]) -> dict[str, Target]:
        for name in targets:
            if not re.fullmatch(TARGET_PATTERN, name):
                raise ValueError(
                    f"target name {name!r}: use letters, digits, '_' and '-' (at most 63, "
                    "starting with a letter or digit), e.g. prod"
                )
        if not targets:
            raise ValueError("at least one target is required")
        return targets

    @field_validator("previous_owners")
    @classmethod
    def _previous_owners(cls, owners: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("owner") in owners:
            raise ValueError("previous_owners must not name the current owner")
        if len(set(owners)) != len(owners):
            raise ValueError("previous_owners lists an owner twice")
        return owners

    @field_validator("vars")
    @classmethod
    def _var_names(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name in values:
            if not re.match(VAR_PATTERN, name):
                raise ValueError(f"var name {name!r} must be a word (letters, digits, _)")
        return values

    def prune_for(self, target: str, override: bool | None = None) -> bool:
        """Whether `target` prunes: the command line's choice, else the target's, else the config's."""
        if override is not None:
            return override
        own = self.targets[target].prune if target in self.targets else None
        return self.prune if own is None else own

    def pricing_for(self, target: str) -> Pricing | None:
        own = self.targets[target].pricing if target in self.targets else None
        return own or self.pricing

    def wants_cost(self) -> bool:
        """Whether plans read run logs: cost or pricing asked for, or a token budget set."""
        budgets = [*self.budgets.values(), *(t.budget for t in self.targets.values() if t.budget)]
        return (
            self.cost is not None
            or self.pricing is not None
            or any(t.pricing is not None for t in self.targets.values())
            or any(b.max_tokens_per_day is not None for b in budgets)
        )

    def default_targets(self) -> list[str]:
        if self.defaults.targets:
            return list(self.defaults.targets)
        # One target needs no default; several do, so nothing is deployed by accident.
        return list(self.targets) if len(self.targets) == 1 else []

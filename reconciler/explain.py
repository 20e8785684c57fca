"""Errors that teach: what a validator or the YAML parser reports, said as what is wanted.

Pure (no I/O), and its work runs only on the error path. Three tables, one per source:

    FIELDS       a model field -> what it wants, in words with an example (and an optional
                 fix that guesses the intended value from what was written)
    TYPE_WANTED  a pydantic error type -> what it wants, for a field the first table lacks
    YAML_RULES   a libyaml / PyYAML problem (and its context) -> a sentence about the line

and one helper for "did you mean": `suggest` (an exact case-insensitive match first, then
difflib's closest), used for keys, targets, zones, platforms and listed values alike.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from reconciler.model import GLOB_EXAMPLE, KEY_PATTERN, URL_EXAMPLE, IgnorableField

# ---------------------------------------------------------------------------------------------
# Did you mean


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely meant: equal ignoring case, else the closest by difflib."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    lowered = word.lower()
    if lowered in by_lower:
        return by_lower[lowered] if by_lower[lowered] != word else None
    close = difflib.get_close_matches(lowered, list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def hint(word: str, choices: Iterable[str], otherwise: str = "") -> str:
    """' (did you mean 'x'?)' when a choice is close to `word`, else ' (otherwise)' or ''."""
    choices = list(choices)
    best = suggest(word, choices)
    if best is not None:
        return f" (did you mean {best!r}?)"
    return f" ({otherwise})" if otherwise else ""


def target_hint(name: str, known: Sequence[str]) -> str:
    """The hint after an unknown target name: the close one, else the config's list."""
    return hint(name, known, f"the config has: {', '.join(known) or 'none'}")


# Abbreviations people write for a zone, and the zone they usually mean.
_ABBREVIATIONS = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MDT": "America/Denver",
    "CDT": "America/Chicago", "EDT": "America/New_York", "BST": "Europe/London",
    "CEST": "Europe/Paris", "EEST": "Europe/Athens", "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney",
}  # fmt: skip
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?00)?")


def zone_hint(name: str, zones: Iterable[str]) -> str:
    """The hint after an unknown time zone: a case slip, a close place in the same region, or
    what an abbreviation or a UTC offset should be written as."""
    zones = sorted(zones)
    wanted = "expected an IANA name like Europe/Rome"
    exact = {z.lower(): z for z in zones}.get(name.lower())
    if exact is not None:
        return f" (did you mean {exact!r}?)"
    region, _, place = name.rpartition("/")
    regions = {z.rpartition("/")[0].lower(): z.rpartition("/")[0] for z in zones if "/" in z}
    if region.lower() in regions:
        # Europe/Milano: judge the place among the region's places; on whole names the shared
        # region makes Europe/Minsk look close.
        region = regions[region.lower()]
        places = [z.rpartition("/")[2] for z in zones if z.rpartition("/")[0] == region]
        found = suggest(place, places)
        if found is None:
            return f" (no such place in {region}: {wanted})"
        return f" (did you mean {region + '/' + found!r}?)"
    offset = _OFFSET.fullmatch(name)
    if offset is not None and int(offset[2]) <= 14:
        fixed = f"Etc/GMT{'-' if offset[1] == '+' else '+'}{int(offset[2])}"
        return (
            " (a UTC offset, not a zone: name a place such as Europe/Rome, or write "
            f"{fixed} for a fixed offset; Etc/ signs are reversed)"
        )
    if "/" not in name:  # PST is no zone and MST another: a close name would mislead
        meant = _ABBREVIATIONS.get(name.upper())
        if meant is not None or re.fullmatch(r"[A-Za-z]{2,5}", name):
            example = meant or "America/New_York or Europe/Rome"
            return f" (an abbreviation, not a zone: name a place, e.g. {example})"
        return f" ({wanted})"
    return hint(name, zones, wanted)


# ---------------------------------------------------------------------------------------------
# Values, as the user wrote them

_SHOWN_TEXT = 40


def shown(value: Any) -> str:
    """A value the way it looks in YAML, bounded: 'text', 15, true, a list, an empty value."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= _SHOWN_TEXT else f"a number of {len(text)} digits"
    if isinstance(value, str):
        if not value:
            return "empty text"
        first = value.splitlines()[0] if value.strip() else value
        if len(value) <= _SHOWN_TEXT and first == value:
            return repr(value)
        return f"{first[: _SHOWN_TEXT - 3] + '...'!r} ({len(value)} characters)"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, (list, tuple)):
        return "a list" if value else "an empty list"
    return "a value of another kind"


# ---------------------------------------------------------------------------------------------
# Fixes: from what was written, the value most likely meant (None when there is no good guess)

_SLUG_DROP = re.compile(r"[^a-z0-9]+")
_KEY = re.compile(KEY_PATTERN)
_UNITS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
}  # fmt: skip
_AMOUNT = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2}))?(?::\d{2})?\s*(am|pm|AM|PM)?\s*$")


def _did_you_mean(value: object) -> str:
    return f"did you mean {value}?"


def _fix_key(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and _KEY.match(str(value)):
        return f'quote it to keep it as text: "{value}"'
    if not isinstance(value, str):
        return None
    slug = _SLUG_DROP.sub("-", value.lower()).strip("-")
    if not _KEY.match(slug) or slug == value or slug == value.lower()[: len(slug)]:
        return None  # nothing to suggest, or only a shorter copy of it
    return _did_you_mean(repr(slug))


def _fix_duration(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"a number needs a unit: {value}m for minutes, {value}s for seconds"
    if not isinstance(value, str):
        return None
    match = _AMOUNT.match(value)
    if match is None:
        return None
    amount, unit = int(match[1]), match[2].lower()
    if unit in ("w", "wk", "wks", "week", "weeks"):
        return f"there is no week unit: did you mean {amount * 7}d?"
    if unit in _UNITS and f"{amount}{_UNITS[unit]}" != value:
        return _did_you_mean(f"{amount}{_UNITS[unit]}")
    return None


def _fix_clock(value: object) -> str | None:
    """9:00, 9am, 900 and 09:00:00 -> 09:00."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2359:
        hour, minute, noon = value // 100, value % 100, None
    elif isinstance(value, str) and (match := _CLOCK.match(value)):
        hour, minute, noon = int(match[1]), int(match[2] or 0), (match[3] or "").lower()
    else:
        return None
    if noon and 1 <= hour <= 12:
        hour = hour % 12 + (12 if noon == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    fixed = f"{hour:02d}:{minute:02d}"
    return _did_you_mean(f'"{fixed}"') if fixed != value else None


def _fix_list(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        items = [p.strip() for p in re.split(r"[,\s]+", value) if p.strip()]
        return _did_you_mean(f"[{', '.join(items)}]")
    return None


def _fix_bool(value: object) -> str | None:
    if isinstance(value, str):
        meant = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false",
                 "off": "false"}.get(value.strip().lower())  # fmt: skip
        if meant == value.strip().lower():
            return f"write {meant} without quotes"
        if meant is not None:
            return f"write {meant}: schedctl reads YAML 1.2, where {value} is text"
    if isinstance(value, int) and value in (0, 1):
        return _did_you_mean("true" if value else "false")
    return None


def _fix_int(value: object) -> str | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return f"write {value.strip()} without quotes"
    if isinstance(value, float) and value.is_integer():
        return _did_you_mean(int(value))
    return None


def _fix_text(value: object) -> str | None:
    if isinstance(value, list):
        return "for text over several lines, write `|` after the key and indent the lines below"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'quote it to keep it as text: "{value}"'
    return None


def _fix_schedule(value: object) -> str | None:
    """A bare string where the schedule mapping goes: which form it looks like."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"(?:\d+[dhms])+", text):
        return f"did you mean schedule: {{every: {text}}}?"
    if re.fullmatch(r"\d{2}:\d{2}", text):
        return f'did you mean schedule: {{daily: "{text}"}}?'
    if len(text.split()) == 5 or text.startswith("@"):
        return f"did you mean schedule: {{cron: {_quoted(text)}}}?"
    return None


def _fix_action(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return "to send this text to the agent, put it under prompt:"
    return None


# ---------------------------------------------------------------------------------------------
# What each field wants


@dataclass(frozen=True)
class Want:
    text: str  # "a duration like 15m, 2h, 1d or 1h30m": follows "expected"
    fix: Callable[[object], str | None] | None = None


_CLOCK_TEXT = "a time of day HH:MM, 00:00 to 23:59"
_ZONE = Want("an IANA time zone name, e.g. timezone: Europe/Rome")
_INSTANT = "an ISO 8601 date and time"

# Keyed by the document's model, then by the field's path; `*` stands for a list index or a
# mapping key. tests/loader/test_explain.py checks that every field of the models has an entry.
# What ignore_changes may name, as the model lists them.
_IGNORABLE = "one of " + ", ".join(get_args(IgnorableField))

# A budget and a price read alike wherever they stand (a target's, a glob's, the default).
_BUDGET: dict[str, Want] = {
    "": Want("a mapping of limits, e.g. {max_runs_per_day: 96, min_interval: 15m}"),
    ".max_runs_per_day": Want("a number of runs per day, e.g. max_runs_per_day: 96"),
    ".max_tokens_per_day": Want(
        "a whole number of tokens per day, e.g. max_tokens_per_day: 2000000", _fix_int
    ),
    ".min_interval": Want("a duration like 15m, 2h or 1d", _fix_duration),
    ".max_concurrent_per_minute": Want(
        "a whole number from 1, e.g. max_concurrent_per_minute: 3", _fix_int
    ),
}
_PRICING: dict[str, Want] = {
    "": Want("a mapping of per_1k_tokens and currency, e.g. {per_1k_tokens: 0.01, currency: USD}"),
    ".per_1k_tokens": Want("the price of 1,000 tokens as a number, e.g. per_1k_tokens: 0.01"),
    ".currency": Want("an ISO 4217 code in capitals, e.g. currency: USD"),
}

FIELDS: dict[str, dict[str, Want]] = {
    "Schedule": {
        "name": Want(
            "lower-case letters, digits and '-', at most 63 characters and not starting "
            "with '-', e.g. morning-digest",
            _fix_key,
        ),
        "title": Want("a display name of 1 to 200 characters, e.g. Morning digest"),
        "description": Want("text, e.g. description: Summarise the last day", _fix_text),
        "enabled": Want("true or false", _fix_bool),
        "schedule": Want(
            "a mapping with one of cron, every, at, daily, weekly or monthly, "
            'e.g. schedule: {cron: "0 9 * * *"}',
            _fix_schedule,
        ),
        "schedule.cron": Want('a cron expression in quotes, e.g. cron: "0 9 * * *"'),
        "schedule.every": Want("a duration like 15m, 2h, 1d or 1h30m", _fix_duration),
        "schedule.anchor": Want(f"{_INSTANT}, e.g. anchor: 2026-01-01T00:00:00Z"),
        "schedule.at": Want(f'{_INSTANT}, e.g. at: "2026-12-24T09:00:00+01:00"'),
        "schedule.daily": Want(f'{_CLOCK_TEXT}, e.g. daily: "09:00"', _fix_clock),
        "schedule.weekly": Want(
            'a mapping of at and days, e.g. weekly: {at: "08:30", days: [mon, wed, fri]}'
        ),
        "schedule.weekly.at": Want(f'{_CLOCK_TEXT}, e.g. at: "08:30"', _fix_clock),
        "schedule.weekly.days": Want("a list of weekdays, e.g. days: [mon, wed, fri]", _fix_list),
        "schedule.weekly.days.*": Want("a weekday: mon..sun, or 0-7 (0 and 7 are Sunday)"),
        "schedule.monthly": Want('a mapping of at and day, e.g. monthly: {at: "09:00", day: 1}'),
        "schedule.monthly.at": Want(f'{_CLOCK_TEXT}, e.g. at: "09:00"', _fix_clock),
        "schedule.monthly.day": Want("a day of the month from 1 to 31, e.g. day: 1", _fix_int),
        "schedule.timezone": _ZONE,
        "action": Want(
            "a mapping with prompt or app, e.g. action: {prompt: Summarise the day.}", _fix_action
        ),
        "action.prompt": Want(
            "the message for the agent, as text, e.g. prompt: Summarise the day", _fix_text
        ),
        "action.app": Want(
            "a mapping of the app's id and input, e.g. app: {id: app_123, input: {company: Stripe}}"
        ),
        "action.app.id": Want("the app's id, e.g. id: app_123"),
        "action.app.input": Want(
            "a mapping of input names to values, e.g. input: {company: Stripe}"
        ),
        "deliver": Want(
            "a mapping of channel and target, e.g. deliver: {channel: slack, target: C012345678}"
        ),
        "deliver.channel": Want("slack, telegram or whatsapp"),
        "deliver.target": Want("a channel or user id, e.g. target: C012345678"),
        "history": Want("keep (one conversation per schedule) or fresh (a new one per run)"),
        "max_retries": Want("a whole number from 0 to 1000, e.g. max_retries: 3", _fix_int),
        "delete_after_run": Want("true or false", _fix_bool),
        "targets": Want("a list of the config's target names, e.g. targets: [prod]", _fix_list),
        "targets.*": Want("a target name, e.g. prod"),
        "overrides": Want(
            "a mapping from target name to the fields it changes, "
            "e.g. overrides: {staging: {enabled: false}}"
        ),
        "overrides.*": Want("a mapping of the fields this target changes, e.g. {enabled: false}"),
        "pass_env": Want(
            "a list of environment variable names the local runner passes on, "
            "e.g. pass_env: [GITHUB_TOKEN]",
            _fix_list,
        ),
        "pass_env.*": Want("an environment variable name, e.g. GITHUB_TOKEN"),
        "spread": Want("true or false", _fix_bool),
        "renamed_from": Want(
            "a list of the keys this schedule had before, e.g. renamed_from: [daily-digest]",
            _fix_list,
        ),
        "renamed_from.*": Want("an earlier key, e.g. daily-digest"),
        "protect": Want("true or false", _fix_bool),
        "ignore_changes": Want(
            "a list of fields the platform may change, e.g. ignore_changes: [enabled, prompt]",
            _fix_list,
        ),
        "ignore_changes.*": Want(_IGNORABLE),
        "estimate": Want("a mapping with tokens per run, e.g. estimate: {tokens: 12000}"),
        "estimate.tokens": Want("a whole number of tokens, e.g. tokens: 12000", _fix_int),
        "budget_exception": Want(
            'the reason in words, e.g. budget_exception: "quarter-end close, approved by finance"',
            _fix_text,
        ),
    },
    "Config": {
        "owner": Want(
            "lower-case letters, digits, '.', '_' and '-', at most 63 characters and starting "
            "with a letter or digit, e.g. owner: acme-schedules",
            _fix_key,
        ),
        "schedules": Want(f'a list of globs, e.g. schedules: ["{GLOB_EXAMPLE}"]', _fix_list),
        "schedules.*": Want(f'a glob in quotes, e.g. "{GLOB_EXAMPLE}"'),
        "defaults": Want("a mapping of timezone and targets, e.g. defaults: {timezone: UTC}"),
        "defaults.timezone": _ZONE,
        "defaults.targets": Want("a list of target names, e.g. targets: [prod]", _fix_list),
        "defaults.targets.*": Want("a target name, e.g. prod"),
        "defaults.spread": Want("true or false", _fix_bool),
        "prune": Want("true or false", _fix_bool),
        "protect": Want(
            'a list of key globs never deleted, e.g. protect: ["billing-*"]', _fix_list
        ),
        "protect.*": Want('a key glob in quotes, e.g. "billing-*"'),
        "targets.*.prune": Want("true or false", _fix_bool),
        "targets.*.ignore_changes": Want(
            "a list of fields the platform may change, e.g. ignore_changes: [enabled]",
            _fix_list,
        ),
        "targets.*.ignore_changes.*": Want(_IGNORABLE),
        "previous_owners": Want(
            "a list of owners this repository was known by, e.g. previous_owners: [old-team]",
            _fix_list,
        ),
        "previous_owners.*": Want(
            "an owner: lower-case letters, digits, '.', '_' and '-', e.g. old-team"
        ),
        "vars": Want(
            "a mapping of names to values or lists for templates, e.g. vars: {customers: [acme]}"
        ),
        "targets": Want(
            "a mapping from target name to its platform and address, "
            "e.g. targets: {local: {platform: engine, sandbox: .schedctl/sandbox.db}}"
        ),
        "targets.*": Want(
            "a mapping of platform and url or sandbox, "
            f"e.g. prod: {{platform: engine, url: {URL_EXAMPLE}}}"
        ),
        "targets.*.platform": Want("a platform name, e.g. platform: engine"),
        "targets.*.url": Want(f"an http(s) base URL, e.g. url: {URL_EXAMPLE}"),
        "targets.*.instance": Want("an instance slug, e.g. instance: acme"),
        "targets.*.token_env": Want(
            "the name of an environment variable, e.g. token_env: ENGINE_TOKEN"
        ),
        "targets.*.sandbox": Want("a file path, e.g. sandbox: .schedctl/sandbox.db"),
        "targets.*.verify_tls": Want("true or false", _fix_bool),
        **{f"targets.*.budget{k}": w for k, w in _BUDGET.items()},
        **{f"budgets.*{k}": w for k, w in _BUDGET.items()},
        "budgets": Want(
            'a mapping from key glob to limits, e.g. budgets: {"monitor-*": {min_interval: 15m}}'
        ),
        **{f"pricing{k}": w for k, w in _PRICING.items()},
        **{f"targets.*.pricing{k}": w for k, w in _PRICING.items()},
        "cost": Want("a mapping, e.g. cost: {last_runs: 20} (or cost: {} for the defaults)"),
        "cost.last_runs": Want("a whole number from 1 to 500, e.g. last_runs: 20", _fix_int),
    },
}


def _expected(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("expected", "one of the listed values")).replace("'", "")


# A field the table above lacks (a plugin's model, a new field): the error type says enough.
TYPE_WANTED: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "string_type": lambda _: "text",
    "int_type": lambda _: "a whole number",
    "int_parsing": lambda _: "a whole number",
    "int_from_float": lambda _: "a whole number",
    "float_type": lambda _: "a number",
    "bool_type": lambda _: "true or false",
    "bool_parsing": lambda _: "true or false",
    "list_type": lambda _: "a list, e.g. [a, b]",
    "dict_type": lambda _: "a mapping, e.g. {key: value}",
    "model_type": lambda _: "a mapping, e.g. {key: value}",
    "model_attributes_type": lambda _: "a mapping, e.g. {key: value}",
    "literal_error": lambda ctx: _expected(ctx),
    "enum": lambda ctx: _expected(ctx),
    "string_pattern_mismatch": lambda ctx: f"text matching {ctx.get('pattern')}",
    "string_too_short": lambda ctx: f"text of at least {ctx.get('min_length')} character(s)",
    "string_too_long": lambda ctx: f"text of at most {ctx.get('max_length')} characters",
    "too_short": lambda ctx: f"a list of at least {ctx.get('min_length')} item(s)",
    "too_long": lambda ctx: f"a list of at most {ctx.get('max_length')} items",
    "greater_than_equal": lambda ctx: f"a number of at least {ctx.get('ge')}",
    "greater_than": lambda ctx: f"a number above {ctx.get('gt')}",
    "less_than_equal": lambda ctx: f"a number of at most {ctx.get('le')}",
    "less_than": lambda ctx: f"a number below {ctx.get('lt')}",
    "datetime_type": lambda _: _INSTANT,
    "datetime_parsing": lambda _: _INSTANT,
    "datetime_from_date_parsing": lambda _: _INSTANT,
    "timezone_aware": lambda _: _INSTANT + " with a UTC offset",
}

# The fix to try for a field the table lacks.
TYPE_FIX: dict[str, Callable[[object], str | None]] = {
    "int_type": _fix_int,
    "bool_type": _fix_bool,
    "string_type": _fix_text,
}


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def field_path(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, Any]:
    """(the schema path of `loc`, '*' for indices and mapping keys; the model found there)."""
    parts: list[str] = []
    current: Any = model
    keyed = False  # the previous field is a dict: this part is one of its keys
    for part in loc:
        if keyed or isinstance(part, int) or not _is_model(current):
            parts.append("*")
            keyed = False
            continue
        parts.append(str(part))
        info = current.model_fields.get(part)
        if info is None:
            current = None
            continue
        annotation = info.annotation
        args = getattr(annotation, "__args__", (annotation,))
        keyed = get_origin(annotation) is dict
        candidates = [a for a in args if isinstance(a, type) and get_origin(a) is None]
        current = next((a for a in candidates if _is_model(a)), None)
    return ".".join(parts), current


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the (nested) model at `loc`, for 'did you mean' hints."""
    found = field_path(model, loc)[1]
    return list(found.model_fields) if _is_model(found) else []


def _want(model: type[BaseModel], loc: Sequence[str | int]) -> Want | None:
    return FIELDS.get(model.__name__, {}).get(field_path(model, loc)[0])


def _choices(ctx: Mapping[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def pydantic_message(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    """One pydantic error (from `errors(include_url=False)`) as a sentence, without position.

    `loc` is expected with pydantic's `function-...` parts already removed.
    """
    loc = tuple(err["loc"])
    kind = str(err["type"])
    value = err.get("input")
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    shown_loc = ".".join(str(p) for p in loc)
    if loc and loc[-1] == "[key]":  # a mapping key that is not text: `1: x` under a dict field
        parent = ".".join(str(p) for p in loc[:-2])
        return _bad_key(parent, loc[-2])
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        return f"unknown key {shown_loc!r}" + hint(
            str(loc[-1]), allowed, f"allowed: {', '.join(allowed)}"
        )
    if kind == "invalid_key":  # `1: x` or `~: x` in a model
        return _bad_key(".".join(str(p) for p in loc[:-1]), value)
    want = _want(model, loc)
    if kind == "missing":
        return f"missing required key {shown_loc!r}" + (f" ({want.text})" if want else "")
    if kind == "value_error":  # schedctl's own validators: already plain words
        return _at(shown_loc, str(err["msg"]).removeprefix("Value error, "))
    if want is None and kind not in TYPE_WANTED:
        return _at(shown_loc, str(err["msg"]))  # unknown to both tables: pydantic's words
    text = want.text if want else TYPE_WANTED[kind](ctx)
    extra: str | None = None
    if kind in ("literal_error", "enum") and isinstance(value, str):
        best = suggest(value, _choices(ctx))
        extra = _did_you_mean(repr(best)) if best else None
    if extra is None:
        fix = want.fix if want else TYPE_FIX.get(kind)
        extra = fix(value) if fix else None
    return _at(shown_loc, f"expected {text}, not {shown(value)}" + (f" ({extra})" if extra else ""))


def _at(loc: str, message: str) -> str:
    return f"{loc}: {message}" if loc else message


def _bad_key(parent: str, key: object) -> str:
    written = "~ (null)" if key is None else str(key)
    return _at(parent, f"key {written} is not a name: keys are text, e.g. title")


# ---------------------------------------------------------------------------------------------
# YAML syntax


# Where libyaml breaks lines (YAML 1.1): its line numbers count these.
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True)
class YamlSpot:
    """What the parser said and where, with the text: enough to say it in plain words."""

    problem: str
    context: str
    line: int  # 1-based, of the problem
    column: int
    context_line: int | None
    context_column: int | None
    text: str

    def line_text(self, line: int) -> str:
        lines = _YAML_BREAK.split(self.text)
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def char(self) -> str:
        return self.line_text(self.line)[self.column - 1 : self.column]

    def where(self) -> tuple[int, int]:
        return self.line, self.column

    def at_context(self) -> tuple[int, int]:
        if self.context_line is None or self.context_column is None:
            return self.line, self.column
        return self.context_line, self.context_column

    def line_above(self, line: int) -> tuple[int, str] | None:
        """The nearest line above `line` with content (not blank, not only a comment)."""
        for number in range(line - 1, 0, -1):
            text = self.line_text(number)
            if text.strip() and not text.strip().startswith("#"):
                return number, text
        return None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 30 else text[:27] + "..."


_KEY_AT = re.compile(r"^\s*(?:-\s+)?([^\s#'\"{}\[\],][^#:]*?|'[^']*'|\"[^\"]*\"):(?:\s|$)")


def _key_before(spot: YamlSpot, line: int, column: int) -> str | None:
    """The key on `line` whose value starts at `column` (`cron` in `  cron: * 9 * * *`)."""
    before = spot.line_text(line)[: column - 1]
    match = re.search(r"([A-Za-z0-9_.-]+)\s*:\s*$", before)
    return match[1] if match else None


def _quoted(value: str) -> str:
    return f'"{value}"' if '"' not in value else "'" + value.replace("'", "''") + "'"


def _value_from(spot: YamlSpot, line: int, column: int) -> str:
    """The rest of the line from `column`, without a trailing comment or closing brackets."""
    rest = spot.line_text(line)[column - 1 :]
    rest = re.split(r"\s+#", rest, maxsplit=1)[0].rstrip()
    if "{" in spot.line_text(line)[: column - 1] or "[" in spot.line_text(line)[: column - 1]:
        rest = re.split(r"[,}\]]", rest, maxsplit=1)[0].rstrip()
    return rest


def _indicator_value(spot: YamlSpot, kind: str, indicator: str) -> tuple[str, tuple[int, int]]:
    line, column = spot.at_context()
    key = _key_before(spot, line, column)
    value = _value_from(spot, line, column)
    start = f"a value starting with {indicator} is read as a YAML {kind}"
    if key == "cron":
        return f"{start}: quote the cron expression, e.g. cron: {_quoted(value)}", spot.at_context()
    if key:
        return f"{start}: put the value in quotes, e.g. {key}: {_quoted(value)}", spot.at_context()
    return f"{start}: put the value in quotes, e.g. {_quoted(value)}", spot.at_context()


def _alias(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return _indicator_value(spot, "alias (*name)", "*")


def _anchor(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return _indicator_value(spot, "anchor (&name)", "&")


def _undefined_alias(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    line, column = spot.at_context()
    name = re.match(r"\*([^\s,\]}]*)", spot.line_text(line)[column - 1 :])
    alias = name[1] if name else ""
    message = (
        f"*{alias} refers to no anchor: define it first with &{alias} on the value to repeat, "
        "or quote the value if the * is meant literally"
    )
    if _key_before(spot, line, column) == "cron":
        message += f", e.g. cron: {_quoted(_value_from(spot, line, column))}"
    return message, spot.at_context()


def _colon_in_value(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    text = spot.line_text(spot.line)
    key = _KEY_AT.match(text)
    if key and key.end() <= spot.column - 1:
        name = key[1].strip()
        value = text[key.end() :].strip()
        value = re.split(r"\s+#", value, maxsplit=1)[0]
        return (
            f"a ': ' inside the value of {name}: put the value in quotes, "
            f"e.g. {name}: {_quoted(value)}"
        ), spot.where()
    above = spot.line_above(spot.line)
    if above is not None and not _KEY_AT.match(above[1]) and not above[1].lstrip().startswith("-"):
        return (
            f"line {above[0]} (`{_snippet(above[1])}`) is text without a key, so this line "
            "continues it: write it as `key: value`, or indent it under the key it belongs to"
        ), (above[0], _indent(above[1]) + 1)
    if above is not None and _indent(text) > _indent(above[1]):
        return (
            f"`{_snippet(text)}` is indented under line {above[0]} (`{_snippet(above[1])}`), "
            "which already has a value: indent it like the keys it belongs with"
        ), (spot.line, _indent(text) + 1)
    return "a ': ' where no key can start: quote the value that holds it", spot.where()


def _not_a_key(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    """libyaml's "did not find expected key" / PyYAML's "expected <block end>"."""
    text = spot.line_text(spot.line)
    before = text[: spot.column - 1].rstrip()
    if before and before[-1] in "'\"" and spot.column - 1 > _indent(text):
        return "text after the closing quote: put the whole value inside the quotes", spot.where()
    found = _snippet(text[spot.column - 1 :] if before.strip() else text)
    indent = _indent(text)
    start_line, start_column = spot.at_context()
    keys = start_column - 1
    if spot.context_line is None:  # PyYAML without a context mark: compare with the line above
        above = spot.line_above(spot.line)
        start_line, keys = (above[0], _indent(above[1])) if above else (1, 0)
    if found.startswith("-") and indent == keys:
        return (
            f"a list item (`{found}`) among the keys of the mapping from line {start_line}: "
            "a list goes under a key, e.g. targets: [prod, staging]"
        ), spot.where()
    where = f"the keys of its mapping (line {start_line}) are indented {keys}"
    above = spot.line_above(spot.line)
    if above is not None and above[0] != start_line and _indent(above[1]) != keys:
        where += f", the line above ({above[0]}) {_indent(above[1])}"
    return (
        f"bad indentation: `{found}` is indented {indent} space{'s' * (indent != 1)}, but "
        f"{where}: indent each entry like the ones it belongs with"
    ), spot.where()


def _not_an_item(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    """A `key: value` (or text) at the indentation of a list's items."""
    found = _snippet(spot.line_text(spot.line))
    start_line, _ = spot.at_context()
    return (
        f"`{found}` is among the items of the list from line {start_line}, but is no item: "
        f"start it with '- ' to make it one, or indent it like the keys it belongs with"
    ), spot.where()


def _unclosed_flow(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    closing = "}" if "'}'" in spot.problem or "mapping" in spot.context else "]"
    opening = "{" if closing == "}" else "["
    if spot.context_line is not None and spot.context_line < spot.line:
        return (
            f"this {opening} is not closed: end it with {closing} (values holding ', ', ': ' "
            "or brackets need quotes)"
        ), spot.at_context()
    return (
        f"inside {opening}...{closing}, expected ',' or '{closing}' here: quote a value that "
        "holds ', ', ': ' or brackets"
    ), spot.where()


def _unclosed_quote(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    line, column = spot.at_context()
    quote = spot.line_text(line)[column - 1 : column] or '"'
    return (
        f"the text opened with {quote} here is never closed: end it with {quote}",
        spot.at_context(),
    )


def _no_colon(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    line, _ = spot.at_context()
    found = _snippet(spot.line_text(line))
    return (
        f"`{found}` is neither `key: value` nor a list item (- ...): add ': ' after the key, "
        "or indent it if it continues the value above"
    ), spot.at_context()


def _bad_start(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    char = spot.char()
    if char == "\t":
        return _tab(spot)
    key = _key_before(spot, spot.line, spot.column)
    value = _value_from(spot, spot.line, spot.column)
    example = f"{key}: {_quoted(value)}" if key else _quoted(value)
    return f"a value cannot start with {char!r}: put it in quotes, e.g. {example}", spot.where()


def _tab(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return "a tab: YAML indents with spaces only; replace the tab with spaces", spot.where()


def _document_start(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    if spot.line_text(spot.line).startswith("..."):
        return (
            "text after `...`, which ends the document: remove the text, or start another "
            "document with a line `---`"
        ), spot.where()
    return (
        "text after the end of the document: a file holds mappings of `key: value` lines "
        "(several documents are separated by a line `---`)"
    ), spot.where()


def _directive(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return (
        "a line starting with % is a YAML directive: quote a value that starts with %",
        spot.where(),
    )


def _escape(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return (
        'a backslash inside double quotes starts an escape (\\n, \\t, \\"): write \\\\ for a '
        "backslash, or use single quotes, e.g. 'C:\\reports'"
    ), spot.at_context()


def _no_content(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    return (
        "a value is missing here, inside { } or [ ]: remove the extra ',' or bracket, and "
        "quote values that hold ', ' or ': '"
    ), spot.where()


def _tag(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    message = "a value starting with ! is read as a YAML tag: put the value in quotes"
    return message, spot.at_context()


# (problem starts with, context contains or "", explain): the first that matches is used. Both
# libyaml's and PyYAML's phrasings: the pure-Python parser reads files that nest many brackets.
YAML_RULES: list[tuple[str, str, Callable[[YamlSpot], tuple[str, tuple[int, int]]]]] = [
    ("did not find expected alphabetic or numeric character", "alias", _alias),
    ("expected alphabetic or numeric character", "alias", _alias),
    ("did not find expected alphabetic or numeric character", "anchor", _anchor),
    ("expected alphabetic or numeric character", "anchor", _anchor),
    ("found undefined alias", "", _undefined_alias),
    ("mapping values are not allowed", "", _colon_in_value),
    ("did not find expected key", "", _not_a_key),
    ("expected <block end>", "block collection", _not_an_item),
    ("expected <block end>", "", _not_a_key),
    ("did not find expected '-' indicator", "", _not_an_item),
    ("did not find expected ','", "", _unclosed_flow),
    ("expected ',' or", "", _unclosed_flow),
    ("found unexpected end of stream", "quoted scalar", _unclosed_quote),
    ("could not find expected ':'", "", _no_colon),
    ("found a tab character", "", _tab),
    ("found character that cannot start any token", "", _bad_start),
    ("found character '", "", _bad_start),
    ("did not find expected <document start>", "", _document_start),
    ("expected '<document start>'", "", _document_start),
    ("found unknown directive name", "", _directive),
    ("found unknown escape character", "", _escape),
    ("did not find expected node content", "", _no_content),
    ("expected the node content", "", _no_content),
    ("", "a tag", _tag),  # `!<x`, `!x!`: whatever the parser calls it
]


def yaml_message(spot: YamlSpot) -> tuple[str, tuple[int, int]]:
    """(the sentence, without 'invalid YAML: '; the line and column it is about)."""
    if spot.char() == "\t" or "'\\t'" in spot.problem:  # whatever the parser called it
        return _tab(spot)
    for problem, context, explain in YAML_RULES:
        if spot.problem.startswith(problem) and context in spot.context:
            return explain(spot)
    return spot.problem or spot.context or "not valid YAML", spot.where()

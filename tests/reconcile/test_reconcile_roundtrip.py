"""Property: from_remote then to_remote gives back what the platform holds (server fields aside)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import timing
from reconciler.forms import normalize
from tests.reconcile.test_reconcile_units import aitroop, engine

ENGINE, AITROOP = engine(), aitroop()  # one client each: building one costs an SSL context
KEYS = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and "[" not in s
)
ZONES = st.sampled_from(["UTC", "Europe/Rome", "America/Los_Angeles", "Asia/Kolkata"])
TIMES = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


def cron_strategy() -> st.SearchStrategy[str]:
    field = lambda lo, hi: st.one_of(  # noqa: E731
        st.just("*"),
        st.integers(lo, hi).map(str),
        st.builds(lambda a, n: f"{a}-{min(a + n, hi)}", st.integers(lo, hi), st.integers(0, 5)),
        st.integers(2, 9).map(lambda n: f"*/{n}"),
    )
    parts = st.tuples(field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6))
    return parts.map(lambda p: timing.CronExpr.parse(" ".join(p)).canonical())


ISO = st.builds(
    lambda y, mo, d, h, mi: f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00Z",
    st.integers(2027, 2035), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
)  # fmt: skip
ENGINE_SCHEDULES = st.one_of(
    st.builds(lambda e, z: {"type": "cron", "expression": e, "timezone": z}, cron_strategy(), ZONES),
    st.builds(lambda s: {"type": "interval", "everyMs": s * 1000}, st.integers(1, 10 * 86400)),
    st.builds(lambda s, a: {"type": "interval", "everyMs": s * 1000, "anchorAt": a}, st.integers(60, 86400), ISO),
    st.builds(lambda a: {"type": "one-shot", "runAt": a}, ISO),
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    key=KEYS, name=TEXT, description=st.one_of(st.just(""), TEXT), prompt=TEXT, schedule=ENGINE_SCHEDULES,
    enabled=st.booleans(), deliver=st.one_of(st.none(), st.tuples(st.sampled_from(["slack", "telegram", "whatsapp"]), TEXT)),
    keep=st.booleans(), delete_after=st.booleans(), retries=st.integers(0, 20),
)  # fmt: skip
def test_engine_round_trip(
    key: str, name: str, description: str, prompt: str, schedule: dict[str, Any], enabled: bool,
    deliver: tuple[str, str] | None, keep: bool, delete_after: bool, retries: int,
) -> None:  # fmt: skip
    e = ENGINE
    marker = f"[schedctl:acme/{key}]"
    remote = {
        "name": name, "description": f"{description}\n\n{marker}" if description else marker,
        "prompt": prompt, "schedule": schedule, "enabled": enabled,
        "outboundChannel": deliver[0] if deliver else None, "outboundTarget": deliver[1] if deliver else None,
        "keepHistory": keep, "deleteAfterRun": delete_after, "maxRetries": retries,
    }  # fmt: skip
    document = e.from_remote(
        {**remote, "id": "x", "nextRunAt": "2030-01-01T00:00:00Z", "runCount": 3}
    )
    assert e.to_remote(document, "UTC", key) == remote
    assert normalize(document, e.defaults) == normalize(
        e.from_remote(e.to_remote(document, "UTC", key)), e.defaults
    )


AITROOP_SCHEDULES = st.one_of(
    st.builds(lambda n: ("interval", {"every": n, "unit": "minutes"}), st.integers(5, 59)),
    st.builds(lambda n: ("interval", {"every": n, "unit": "hours"}), st.integers(1, 48)),
    st.builds(lambda t: ("daily", {"time": t}), TIMES),
    st.builds(lambda t, d: ("weekly", {"time": t, "days": sorted(d)}), TIMES, st.sets(st.integers(0, 6), min_size=1)),
    st.builds(lambda t, d: ("monthly", {"time": t, "day": d}), TIMES, st.integers(1, 28)),
)  # fmt: skip
JSONISH = st.dictionaries(KEYS, st.one_of(st.integers(), TEXT, st.booleans()), max_size=3)


@settings(max_examples=100, deadline=None)
@given(key=KEYS, name=TEXT, schedule=AITROOP_SCHEDULES, zone=ZONES, enabled=st.booleans(),
       action=st.one_of(TEXT.map(lambda p: ("send_message", {"prompt": p})),
                        st.tuples(TEXT, JSONISH).map(lambda a: ("run_app", {"app_id": a[0], "app_input": a[1]}))))  # fmt: skip
def test_aitroop_round_trip(
    key: str, name: str, schedule: tuple[str, dict[str, Any]], zone: str, enabled: bool,
    action: tuple[str, dict[str, Any]],
) -> None:  # fmt: skip
    a = AITROOP
    remote = {
        "name": f"{name} [[acme/{key}]]", "enabled": enabled, "schedule_type": schedule[0],
        "schedule_config": schedule[1], "timezone": zone, "action_type": action[0], "action_config": action[1],
    }  # fmt: skip
    document = a.from_remote(
        {**remote, "id": "t", "cron_expr": "x", "session_id": None, "run_count": 1}
    )
    assert a.to_remote(document, "UTC", key) == remote

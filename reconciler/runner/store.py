"""The runs database: every run, and each schedule's state, in SQLite (WAL).

The invariant that makes kill -9 safe: a slot is claimed (the schedule's `last_slot` moves to
it and a run row appears in state 'running') in one transaction BEFORE the run executes. On the
next start, rows still 'running' become 'interrupted' and their slots, already claimed, are not
fired again. The claim itself refuses a slot at or before `last_slot`, so no code path, and no
second process, can fire a slot twice.

Times are stored as fixed-width UTC ISO text, so comparing strings compares instants.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

from reconciler.errors import RunnerError

RunStatus = Literal["running", "ok", "error", "skipped", "interrupted"]
TriggerKind = Literal["scheduler", "manual"]
Role = Literal["user", "assistant"]

SCHEMA_VERSION = 1
# The output column keeps the first megabyte; the artifact files keep everything.
OUTPUT_COLUMN_LIMIT = 1_000_000
INTERRUPTED = "the runner stopped during this run (kill, crash or shutdown)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    schedule        TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('scheduler', 'manual')),
    scheduled_for   TEXT,
    started_at      TEXT,
    completed_at    TEXT,
    duration_ms     INTEGER,
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'ok', 'error', 'skipped', 'interrupted')),
    output          TEXT NOT NULL DEFAULT '',
    error           TEXT,
    conversation_id TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_schedule ON runs (schedule);
CREATE INDEX IF NOT EXISTS runs_running ON runs (schedule) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS schedule_state (
    schedule           TEXT PRIMARY KEY,
    spec_fp            TEXT NOT NULL,
    def_fp             TEXT NOT NULL,
    seen_at            TEXT NOT NULL,
    last_slot          TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    disabled           INTEGER NOT NULL DEFAULT 0,
    disabled_reason    TEXT,
    retired            INTEGER NOT NULL DEFAULT 0,
    conversation_id    TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
"""


def to_text(dt: datetime) -> str:
    if dt.tzinfo is not timezone.utc:  # the scheduler's own instants are UTC already: fast path
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def new_id(prefix: str) -> str:
    """Time-ordered (hex nanoseconds, then random): ids sort by creation and index appends."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(6)}"


@dataclass(frozen=True)
class ScheduleState:
    """What the runner remembers about one schedule between runs and restarts."""

    schedule: str
    spec_fp: str  # fingerprint of when it fires: a change re-anchors and forgets missed slots
    def_fp: str  # fingerprint of the whole definition: a change re-enables it
    seen_at: datetime  # when this timing was first seen: the anchor of an unanchored interval
    last_slot: datetime | None = None  # the latest slot claimed (fired, skipped or missed)
    consecutive_errors: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    retired: bool = False  # a one-shot with delete_after_run that succeeded
    conversation_id: str | None = None  # history: keep


@dataclass(frozen=True)
class RunRecord:
    """One row of the runs table, ready to render (`schedctl runs --local`)."""

    run_id: str
    schedule: str
    trigger: TriggerKind
    scheduled_for: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    status: RunStatus
    output: str
    error: str | None
    conversation_id: str | None
    schedule_disabled: bool = False  # the schedule's state now, so `runs` shows auto-disable

    def to_dict(self) -> dict[str, Any]:
        def iso(dt: datetime | None) -> str | None:
            return None if dt is None else dt.isoformat()

        return {
            "run_id": self.run_id,
            "schedule": self.schedule,
            "trigger": self.trigger,
            "scheduled_for": iso(self.scheduled_for),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "duration_ms": self.duration_ms,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "conversation_id": self.conversation_id,
            "schedule_disabled": self.schedule_disabled,
        }


@dataclass(frozen=True)
class Claim:
    """A run that owns its slot and may now execute."""

    run_id: str
    schedule: str
    trigger: TriggerKind
    scheduled_for: datetime
    conversation_id: str | None
    turns: list[tuple[Role, str]] = field(default_factory=list)  # earlier turns (history: keep)


_RUN_COLUMNS = (
    "r.run_id, r.schedule, r.trigger, r.scheduled_for, r.started_at, r.completed_at, "
    "r.duration_ms, r.status, r.output, r.error, r.conversation_id, "
    "COALESCE(s.disabled, 0)"
)


FLUSH_EVERY = 5_000
_RUN_INSERT = (
    "INSERT INTO runs (run_id, schedule, trigger, scheduled_for, started_at, completed_at, "
    "duration_ms, status, output, error, conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _run_params(row: list[Any]) -> list[Any]:
    """A RunRecord-ordered row with datetimes, as _RUN_INSERT parameters."""
    out = list(row)
    for i in (3, 4, 5):
        if out[i] is not None:
            out[i] = to_text(out[i])
    return out


def _run(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        schedule=row[1],
        trigger=row[2],
        scheduled_for=from_text(row[3]),
        started_at=from_text(row[4]),
        completed_at=from_text(row[5]),
        duration_ms=row[6],
        status=row[7],
        output=row[8],
        error=row[9],
        conversation_id=row[10],
        schedule_disabled=bool(row[11]),
    )


def _state(row: Sequence[Any]) -> ScheduleState:
    return ScheduleState(
        schedule=row[0],
        spec_fp=row[1],
        def_fp=row[2],
        seen_at=cast("datetime", from_text(row[3])),
        last_slot=from_text(row[4]),
        consecutive_errors=row[5],
        disabled=bool(row[6]),
        disabled_reason=row[7],
        retired=bool(row[8]),
        conversation_id=row[9],
    )


_STATE_COLUMNS = (
    "schedule, spec_fp, def_fp, seen_at, last_slot, consecutive_errors, disabled, "
    "disabled_reason, retired, conversation_id"
)


def _state_row(s: ScheduleState) -> tuple[Any, ...]:
    return (
        s.schedule,
        s.spec_fp,
        s.def_fp,
        to_text(s.seen_at),
        None if s.last_slot is None else to_text(s.last_slot),
        s.consecutive_errors,
        int(s.disabled),
        s.disabled_reason,
        int(s.retired),
        s.conversation_id,
    )


class Store:
    """One connection shared by the scheduler thread and the workers, behind a lock.

    `path` None keeps everything in memory (`--simulate` writes no file by default).
    `batch`: one transaction from open to close instead of one per operation; for a virtual
    clock, where a crash has nothing to protect and a week of runs must take seconds. A batch
    store in memory keeps schedule state but no run history: it would vanish unread at close,
    and every run already went to the caller.
    """

    def __init__(
        self, path: str | Path | None, *, readonly: bool = False, batch: bool = False
    ) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._batch = batch
        # Batch mode has one writer and nobody reads until close: states live in memory, and
        # run rows and changed states are written in bulk (every FLUSH_EVERY runs, and at close).
        self._cache: dict[str, ScheduleState] | None = {} if batch else None
        self._pending_runs: dict[str, list[Any]] = {}
        self._dirty: set[str] = set()
        try:
            if self.path is None:
                target, uri = ":memory:", False
            elif readonly:
                target, uri = self.path.resolve().as_uri() + "?mode=ro", True
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                target, uri = str(self.path), False
            self._db = sqlite3.connect(
                target, uri=uri, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            if not readonly:
                self._init_schema()
            if batch:
                self._db.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError) as exc:
            raise RunnerError(
                f"cannot open the runs database {self.path or ':memory:'}: {exc}"
            ) from None

    def _init_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RunnerError(
                f"{self.path}: the runs database was written by a newer schedctl "
                f"(schema {version}, this one knows {SCHEMA_VERSION})"
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process kill; only a power cut may lose the
        # last transactions, and then the slot and its row vanish together.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            if self._batch and self._db.in_transaction:
                self._flush(everything=True)
                self._db.execute("COMMIT")
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._batch:
            with self._lock:
                yield self._db
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read_state(self, db: sqlite3.Connection, key: str) -> ScheduleState | None:
        if self._cache is not None:
            return self._cache.get(key)
        row = db.execute(
            f"SELECT {_STATE_COLUMNS} FROM schedule_state WHERE schedule = ?", (key,)
        ).fetchone()
        return None if row is None else _state(row)

    def _write_states(self, db: sqlite3.Connection, states: Sequence[ScheduleState]) -> None:
        db.executemany(
            f"INSERT OR REPLACE INTO schedule_state ({_STATE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_state_row(s) for s in states],
        )
        if self._cache is not None:
            self._cache.update((s.schedule, s) for s in states)

    def _save_state(self, db: sqlite3.Connection, state: ScheduleState, *, slot_only: bool) -> None:
        """`slot_only`: only last_slot and conversation_id changed (a claim)."""
        if self._cache is not None:
            self._cache[state.schedule] = state
            self._dirty.add(state.schedule)
        elif slot_only:
            slot = None if state.last_slot is None else to_text(state.last_slot)
            db.execute(
                "UPDATE schedule_state SET last_slot = ?, conversation_id = ? WHERE schedule = ?",
                (slot, state.conversation_id, state.schedule),
            )
        else:
            self._write_states(db, [state])

    def _insert_run(self, db: sqlite3.Connection, row: list[Any]) -> None:
        """row: the _RUN_INSERT columns, times as datetimes."""
        if self._cache is not None:
            self._pending_runs[row[0]] = row
        else:
            db.execute(_RUN_INSERT, _run_params(row))

    def _close_run(self, db: sqlite3.Connection, run_id: str, values: list[Any]) -> None:
        """values: status, started_at, completed_at, duration_ms, output, error."""
        row = self._pending_runs.get(run_id)
        if row is not None:
            row[4:10] = values[1], values[2], values[3], values[0], values[4], values[5]
            if len(self._pending_runs) >= FLUSH_EVERY:
                self._flush()
            return
        status, started, completed, duration_ms, output, error = values
        db.execute(
            "UPDATE runs SET status = ?, started_at = ?, completed_at = ?, duration_ms = ?, "
            "output = ?, error = ? WHERE run_id = ?",
            (status, to_text(started), to_text(completed), duration_ms, output, error, run_id),
        )

    def _flush(self, *, everything: bool = False) -> None:
        """Write what batch mode holds in memory (the lock is held); running rows stay unless
        `everything` (close), as they would be rewritten when they finish."""
        done = [r for r in self._pending_runs.values() if everything or r[7] != "running"]
        if self.path is not None:
            self._db.executemany(_RUN_INSERT, [_run_params(r) for r in done])
        for r in done:
            del self._pending_runs[r[0]]
        if self._cache is not None and self._dirty:
            self._db.executemany(
                f"INSERT OR REPLACE INTO schedule_state ({_STATE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_state_row(self._cache[k]) for k in self._dirty],
            )
            self._dirty.clear()

    # -- start-up ----------------------------------------------------------------------------

    def recover(self, now: datetime) -> list[str]:
        """Rows left 'running' by a process that died: interrupted. Their slots stay claimed."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT run_id FROM runs WHERE status = 'running'")]
            db.execute(
                "UPDATE runs SET status = 'interrupted', completed_at = ?, "
                "error = COALESCE(error, ?) WHERE status = 'running'",
                (to_text(now), INTERRUPTED),
            )
        return ids

    def sync_states(
        self, schedules: Sequence[tuple[str, str, str]], now: datetime
    ) -> dict[str, ScheduleState]:
        """(key, spec_fp, def_fp) -> each schedule's state, created or reset as its definition says.

        A new timing starts from `now`. Any change of the definition re-enables a schedule that
        errors disabled, the way applying the file would on the platform.
        """
        out: dict[str, ScheduleState] = {}
        changed: list[ScheduleState] = []
        with self._tx() as db:
            known = {
                r[0]: _state(r) for r in db.execute(f"SELECT {_STATE_COLUMNS} FROM schedule_state")
            }
            for key, spec_fp, def_fp in schedules:
                old = known.get(key)
                if old is None:
                    state = ScheduleState(key, spec_fp, def_fp, now)
                elif old.spec_fp != spec_fp or old.def_fp != def_fp:
                    seen = now if old.spec_fp != spec_fp else old.seen_at
                    state = replace(
                        old, spec_fp=spec_fp, def_fp=def_fp, seen_at=seen, consecutive_errors=0,
                        disabled=False, disabled_reason=None, retired=False,
                    )  # fmt: skip
                else:
                    out[key] = old
                    continue
                out[key] = state
                changed.append(state)
            self._write_states(db, changed)
            if self._cache is not None:
                self._cache.update(out)
        return out

    # -- the run lifecycle -------------------------------------------------------------------

    def claim(
        self,
        key: str,
        slot: datetime,
        trigger: TriggerKind,
        conversation: Literal["keep", "fresh", "none"],
        now: datetime,
        *,
        skip_reason: str | None = None,
        with_turns: bool = False,
    ) -> Claim | RunRecord | None:
        """Claim `slot` and open its run, in one transaction.

        Returns the Claim to execute; a 'skipped' RunRecord when `skip_reason` is given or the
        schedule's previous run is still running; None when a scheduler slot was already
        claimed (it never fires twice). Manual runs claim no slot.
        """
        with self._tx() as db:
            state = self._read_state(db, key)
            if state is None:
                raise RunnerError(f"{key}: no state row (sync_states first)")
            new = state
            if trigger == "scheduler":
                if state.last_slot is not None and state.last_slot >= slot:
                    return None
                new = replace(new, last_slot=slot)
            # In batch mode runs execute inline and no other process can write: none is running.
            running = (
                None
                if self._batch
                else db.execute(
                    "SELECT run_id FROM runs WHERE schedule = ? AND status = 'running' LIMIT 1",
                    (key,),
                ).fetchone()
            )
            if running is not None and skip_reason is None:
                skip_reason = f"the previous run {running[0]} is still running"
            run_id = new_id("run")
            conversation_id: str | None = None
            turns: list[tuple[Role, str]] = []
            if skip_reason is not None:
                pass
            elif conversation == "fresh":
                conversation_id = new_id("conv")
            elif conversation == "keep":
                conversation_id = state.conversation_id
                if conversation_id is None:
                    conversation_id = new_id("conv")
                    new = replace(new, conversation_id=conversation_id)
                elif with_turns:
                    turns = [
                        (r[0], r[1])
                        for r in db.execute(
                            "SELECT role, content FROM turns WHERE conversation_id = ? ORDER BY seq",
                            (conversation_id,),
                        )
                    ]
            if new is not state:
                self._save_state(db, new, slot_only=True)
            if skip_reason is not None:
                skipped = RunRecord(
                    run_id, key, trigger, slot, now, now, 0, "skipped", "", skip_reason, None
                )
                self._insert_run(
                    db, [run_id, key, trigger, slot, now, now, 0, "skipped", "", skip_reason, None]
                )
                return skipped
            self._insert_run(
                db,
                [
                    run_id,
                    key,
                    trigger,
                    slot,
                    None,
                    None,
                    None,
                    "running",
                    "",
                    None,
                    conversation_id,
                ],
            )
        return Claim(run_id, key, trigger, slot, conversation_id, turns)

    def pass_slot(self, key: str, slot: datetime) -> None:
        """Mark a slot handled without running it (`--missed skip`)."""
        with self._tx() as db:
            state = self._read_state(db, key)
            if state is not None and (state.last_slot is None or state.last_slot < slot):
                self._save_state(db, replace(state, last_slot=slot), slot_only=True)

    def mark_started(self, run_id: str, at: datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", (to_text(at), run_id))

    def finish(
        self,
        claim: Claim,
        status: RunStatus,
        *,
        output: str,
        error: str | None,
        started_at: datetime,
        completed_at: datetime,
        turns: Sequence[tuple[Role, str]] = (),
        update: Callable[[ScheduleState, str], ScheduleState] | None = None,
    ) -> tuple[RunRecord, ScheduleState | None]:
        """Close a run and apply the platform rules (`update`) to its schedule, in one transaction.

        When the rules disable the schedule, the run's error says so. Returns the run and the
        schedule state after it.
        """
        key, conversation_id = claim.schedule, claim.conversation_id
        duration_ms = max(0, round((completed_at - started_at).total_seconds() * 1000))
        column = output if len(output) <= OUTPUT_COLUMN_LIMIT else output[:OUTPUT_COLUMN_LIMIT]
        with self._tx() as db:
            state = self._read_state(db, key)
            if state is not None and update is not None:
                new = update(state, status)
                if new.disabled and not state.disabled:
                    error = f"{error or status}; {new.disabled_reason}"
                if new is not state:
                    self._save_state(db, new, slot_only=False)
                state = new
            self._close_run(
                db, claim.run_id, [status, started_at, completed_at, duration_ms, column, error]
            )
            if turns and conversation_id is not None:
                seq = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM turns WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()[0]
                db.executemany(
                    "INSERT INTO turns (conversation_id, seq, role, content, run_id) VALUES (?, ?, ?, ?, ?)",
                    [
                        (conversation_id, seq + i, role, content, claim.run_id)
                        for i, (role, content) in enumerate(turns, start=1)
                    ],
                )
        record = RunRecord(
            claim.run_id, key, claim.trigger, claim.scheduled_for, started_at, completed_at,
            duration_ms, status, column, error, conversation_id, bool(state and state.disabled),
        )  # fmt: skip
        return record, state

    # -- reading -----------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._batch:
                if self.path is None:
                    raise RunnerError("an in-memory simulation keeps no run history")
                self._flush()
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a database no runner has written to yet
                    return []
                raise RunnerError(f"cannot read the runs database {self.path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise RunnerError(f"cannot read the runs database {self.path}: {exc}") from None

    def list_runs(self, name: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Most recent first."""
        where = "WHERE r.schedule = ?" if name else ""
        params: list[Any] = [name] if name else []
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN schedule_state s ON s.schedule = r.schedule "
            f"{where} ORDER BY r.rowid DESC LIMIT ?",
            [*params, limit],
        )
        return [_run(r) for r in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN schedule_state s ON s.schedule = r.schedule "
            "WHERE r.run_id = ?",
            [run_id],
        )
        return _run(rows[0]) if rows else None

    def states(self) -> dict[str, ScheduleState]:
        return {
            r[0]: _state(r) for r in self._query(f"SELECT {_STATE_COLUMNS} FROM schedule_state")
        }

    def turns(self, conversation_id: str) -> list[tuple[Role, str]]:
        rows = self._query(
            "SELECT role, content FROM turns WHERE conversation_id = ? ORDER BY seq",
            [conversation_id],
        )
        return [(r[0], r[1]) for r in rows]


def list_runs(db_path: str | Path, name: str | None = None, limit: int = 20) -> list[RunRecord]:
    """The local runner's history, most recent first (`schedctl runs --local`). Opens read-only."""
    path = Path(db_path)
    if not path.is_file():
        raise RunnerError(
            f"no runs database at {path} (`schedctl run` creates it on its first run)"
        )
    with Store(path, readonly=True) as store:
        return store.list_runs(name, limit)

"""The runs database: every run, each schedule's state, and the replicas serving them.

Three stores over one schema (`SCHEMA_VERSION`, migrated forward in place):

    SqliteRunStore     the embedded default (.schedctl/runs.db, WAL); one live runner per file
    PostgresRunStore   (postgres.py) any number of replicas on any machines
    BatchRunStore      `--simulate`: state in memory, rows written in bulk, or not at all

The invariant that makes kill -9 and replicas safe: a slot is claimed before its run executes,
in one transaction that moves the schedule's `last_slot` to it and inserts the run's row in
state 'running'. The row is unique per (schedule, slot) among scheduler runs, and the insert is
`INSERT ... ON CONFLICT DO NOTHING`: of any number of processes offering the same slot, the
database lets exactly one row in, and the others learn it from the row count, at once, without
waiting on a lock held across a run. (SELECT ... FOR UPDATE SKIP LOCKED would need a row per
future slot written ahead by someone, and SQLite has no SKIP LOCKED; the unique index is the
same arbiter in both databases.) Rows still 'running' when their process died become
'interrupted' and their slots, already claimed, are not fired again.

Times are stored as fixed-width UTC ISO text, so comparing strings compares instants; lease
expiries are epoch seconds on the database's clock, so replicas' clocks may disagree.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from reconciler.errors import RunnerError
from reconciler.transactions import transaction

RunStatus = Literal["running", "ok", "error", "skipped", "interrupted"]
TriggerKind = Literal["scheduler", "manual"]
Role = Literal["user", "assistant"]
Conversation = Literal["keep", "fresh", "none"]
ReplicaKind = Literal["runner", "once"]
StartResult = Literal["started", "busy", "gone"]

SCHEMA_VERSION = 2
# The output column keeps the first megabyte; the artifact files keep everything.
OUTPUT_COLUMN_LIMIT = 1_000_000
INTERRUPTED = "the runner stopped during this run (kill, crash or shutdown)"
FLUSH_EVERY = 5_000  # batch mode: finished rows held in memory before a bulk write
GROUP_COMMIT_S = 0.005  # a run's start and end wait at most this long for their commit
CHECKPOINT_EVERY_S = 1.0  # the live runner's WAL goes into the file this often, at most
REPLICA_ROWS_KEPT_S = 86_400.0  # rows of replicas gone for longer are deleted at a join
_TICK = timedelta(microseconds=1)


def to_text(dt: datetime) -> str:
    if dt.tzinfo is not timezone.utc:  # the scheduler's own instants are UTC already: fast path
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _opt_text(dt: datetime | None) -> str | None:
    return None if dt is None else to_text(dt)


def new_id(prefix: str) -> str:
    """Time-ordered (hex nanoseconds, then random): ids sort by creation and index appends."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(6)}"


# -- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleState:
    """What the runner remembers about one schedule between runs, restarts and replicas."""

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


_STATE_COLUMNS = (
    "schedule, spec_fp, def_fp, seen_at, last_slot, consecutive_errors, disabled, "
    "disabled_reason, retired, conversation_id"
)


def _state_from(row: Sequence[Any]) -> ScheduleState:
    (schedule, spec_fp, def_fp, seen_at, last_slot, errors, disabled, reason, retired, conv) = row
    return ScheduleState(
        schedule, spec_fp, def_fp, cast("datetime", from_text(seen_at)), from_text(last_slot),
        errors, bool(disabled), reason, bool(retired), conv,
    )  # fmt: skip


def _state_params(s: ScheduleState) -> tuple[Any, ...]:
    return (
        s.schedule, s.spec_fp, s.def_fp, to_text(s.seen_at), _opt_text(s.last_slot),
        s.consecutive_errors, int(s.disabled), s.disabled_reason, int(s.retired), s.conversation_id,
    )  # fmt: skip


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
    replica: str | None = None  # the process that claimed it
    def_hash: str | None = None  # the definition it ran with (replicas may differ mid-rollout)
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
            "replica": self.replica,
            "def_hash": self.def_hash,
            "schedule_disabled": self.schedule_disabled,
        }


_RUN_FIELDS = (
    "run_id, schedule, trigger, scheduled_for, started_at, completed_at, duration_ms, status, "
    "output, error, conversation_id, replica, def_hash"
)
_RUN_INSERT = f"INSERT INTO runs ({_RUN_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_TURN_INSERT = (
    "INSERT INTO turns (conversation_id, seq, role, content, run_id) VALUES (?, ?, ?, ?, ?)"
)


def _run_params(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.run_id, r.schedule, r.trigger, _opt_text(r.scheduled_for), _opt_text(r.started_at),
        _opt_text(r.completed_at), r.duration_ms, r.status, r.output, r.error, r.conversation_id,
        r.replica, r.def_hash,
    )  # fmt: skip


def _run_from(row: Sequence[Any]) -> RunRecord:
    (run_id, schedule, trigger, scheduled_for, started_at, completed_at, duration_ms, status,
     output, error, conversation_id, replica, def_hash, disabled) = row  # fmt: skip
    return RunRecord(
        run_id, schedule, trigger, from_text(scheduled_for), from_text(started_at),
        from_text(completed_at), duration_ms, status, output, error, conversation_id, replica,
        def_hash, bool(disabled),
    )  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """A run that owns its slot and may now execute."""

    run_id: str
    schedule: str
    trigger: TriggerKind
    scheduled_for: datetime
    conversation_id: str | None
    turns: list[tuple[Role, str]] = field(default_factory=list)  # earlier turns (history: keep)
    def_hash: str | None = None


@dataclass(frozen=True)
class Offer:
    """A slot offered to the store (`claim_many`): the arguments of `claim`."""

    key: str
    slot: datetime
    trigger: TriggerKind
    conversation: Conversation
    now: datetime
    skip_reason: str | None = None
    with_turns: bool = False
    def_hash: str | None = None


@dataclass(frozen=True)
class Replica:
    """One process serving the database, and until when its lease holds."""

    replica: str
    kind: ReplicaKind
    host: str
    pid: int
    started_at: str
    expires_at: float  # epoch seconds, database clock
    state: Literal["alive", "gone", "expired"]


# -- the rules every store shares (pure) ------------------------------------------------------


def synced(
    old: ScheduleState | None, key: str, spec_fp: str, def_fp: str, now: datetime
) -> ScheduleState:
    """The state a schedule has once its current definition is seen (`old` if unchanged).

    A new timing starts from `now`. Any change of the definition re-enables a schedule that
    errors disabled, the way applying the file would on the platform.
    """
    if old is None:
        return ScheduleState(key, spec_fp, def_fp, now)
    if old.spec_fp == spec_fp and old.def_fp == def_fp:
        return old
    return replace(
        old, spec_fp=spec_fp, def_fp=def_fp, seen_at=now if old.spec_fp != spec_fp else old.seen_at,
        consecutive_errors=0, disabled=False, disabled_reason=None, retired=False,
    )  # fmt: skip


def duration_ms(started_at: datetime, completed_at: datetime) -> int:
    return max(0, round((completed_at - started_at).total_seconds() * 1000))


def output_column(output: str) -> str:
    return output if len(output) <= OUTPUT_COLUMN_LIMIT else output[:OUTPUT_COLUMN_LIMIT]


@dataclass(frozen=True)
class Finished:
    """A run as it ended (`RunStore.finish`'s arguments), before the store applies the
    platform's rules to its schedule."""

    claim: Claim
    status: RunStatus
    output: str  # as the column keeps it
    error: str | None
    started_at: datetime
    completed_at: datetime
    turns: Sequence[tuple[Role, str]]
    update: Callable[[ScheduleState, str], ScheduleState] | None

    def ruled(self, state: ScheduleState | None) -> tuple[ScheduleState | None, str | None]:
        """The schedule's state after this run, and the run's error (which says so when the
        rules disabled the schedule)."""
        if state is None or self.update is None:
            return state, self.error
        new = self.update(state, self.status)
        if new.disabled and not state.disabled:
            return new, f"{self.error or self.status}; {new.disabled_reason}"
        return new, self.error

    def record(
        self, state: ScheduleState | None, error: str | None, replica: str | None
    ) -> RunRecord:
        c = self.claim
        return RunRecord(
            c.run_id, c.schedule, c.trigger, c.scheduled_for, self.started_at, self.completed_at,
            duration_ms(self.started_at, self.completed_at), self.status, self.output, error,
            c.conversation_id, replica, c.def_hash, bool(state and state.disabled),
        )  # fmt: skip


def still_running(run_id: str) -> str:
    return f"the previous run {run_id} is still running"


class _Lost(Exception):
    """The claim's row was already there: roll the transaction back, report None."""


# -- the interface the runner uses ------------------------------------------------------------


class RunStore:
    """What the runner and `runs --local` need of a runs database (see the module docstring)."""

    location: str = ""
    replica: str | None = None  # this process's replica id once joined
    durable: bool = True  # False: nothing survives close (a simulation)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # start-up and replicas
    def recover(self, now: datetime) -> list[str]:
        """Interrupt what a dead runner of this file left running (only a lock holder may)."""
        raise NotImplementedError

    def join(self, kind: ReplicaKind, lease_s: float) -> str:
        """Register this process with a lease; returns its replica id."""
        raise NotImplementedError

    def heartbeat(self) -> tuple[bool, list[str]]:
        """Renew the lease and interrupt the runs of replicas whose lease ran out.

        Returns (whether this replica's own lease had run out and it rejoined, the run ids
        interrupted)."""
        raise NotImplementedError

    def leave(self, now: datetime) -> list[str]:
        """Interrupt this replica's runs still open and end its lease (shutdown)."""
        raise NotImplementedError

    def sync_states(
        self, schedules: Sequence[tuple[str, str, str]], now: datetime
    ) -> dict[str, ScheduleState]:
        """(key, spec_fp, def_fp) -> each schedule's state, created or reset (see `synced`)."""
        raise NotImplementedError

    # the run lifecycle
    def claim(
        self,
        key: str,
        slot: datetime,
        trigger: TriggerKind,
        conversation: Conversation,
        now: datetime,
        *,
        skip_reason: str | None = None,
        with_turns: bool = False,
        def_hash: str | None = None,
    ) -> Claim | RunRecord | None:
        """Claim `slot` and open its run, in one transaction.

        Returns the Claim to execute; a 'skipped' RunRecord when `skip_reason` is given or the
        schedule's previous run is still running; None when a scheduler slot was already
        claimed, by anyone, or the schedule is disabled or retired (it never fires twice).
        Manual runs claim no slot.
        """
        offer = Offer(key, slot, trigger, conversation, now, skip_reason, with_turns, def_hash)
        return self.claim_many([offer])[0]

    def claim_many(self, offers: Sequence[Offer]) -> list[Claim | RunRecord | None]:
        """`claim` for each offer, in order, in one transaction where the store has them."""
        raise NotImplementedError

    def pass_slot(self, key: str, slot: datetime) -> None:
        """Mark a slot handled without running it (`--missed skip`)."""
        raise NotImplementedError

    def release(self, claim: Claim) -> None:
        """Give back a claim whose run never started and whose slot is not due yet (shutdown):
        its row goes, and the slot may be claimed again, by a replica or the next start."""
        raise NotImplementedError

    def try_start(self, run_id: str, at: datetime, limit: int) -> StartResult:
        """Start a claimed run if fewer than `limit` runs are executing, across every replica.

        'busy': try again later; 'gone': the run is no longer open (another replica took over
        this one's runs), do not start it."""
        raise NotImplementedError

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
        done = Finished(claim, status, output_column(output), error, started_at, completed_at,
                        turns, update)  # fmt: skip
        return self._finish(done)

    def _finish(self, done: Finished) -> tuple[RunRecord, ScheduleState | None]:
        raise NotImplementedError

    # reading
    def list_runs(self, name: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Most recent first."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> RunRecord | None:
        raise NotImplementedError

    def states(self) -> dict[str, ScheduleState]:
        raise NotImplementedError

    def turns(self, conversation_id: str) -> list[tuple[Role, str]]:
        raise NotImplementedError

    def replicas(self) -> list[Replica]:
        raise NotImplementedError


# -- SQL stores: SQLite and PostgreSQL ---------------------------------------------------------


class SqlRunStore(RunStore):
    """The durable store: every operation one transaction, committed before the next step.

    Subclasses give the connection and the dialect: placeholders, the schema steps, row
    locks, the database clock. SQL is written with `?` placeholders.
    """

    _begin = "BEGIN"
    _for_update = ""  # row lock on a read that a write in the same transaction depends on
    _order = "r.rowid"  # insertion order of runs
    _shared_bound = True  # --max-concurrent counts the runs of every process on the database
    # The claim's "still running?" look-up inside its watermark UPDATE (one statement fewer).
    # Not on PostgreSQL: there a RETURNING subquery reads the snapshot from before the row lock
    # wait, and could miss the run of the claimer it waited for.
    _running_returned = (
        "(SELECT run_id FROM runs WHERE runs.schedule = schedule_state.schedule "
        "AND runs.status = 'running' LIMIT 1)"
    )
    _steps: ClassVar[
        Mapping[int, str]
    ] = {}  # version -> the DDL that reaches it from the one before
    _errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sql_cache: dict[str, str] = {}
        self._version = SCHEMA_VERSION
        self._lease_s = 0.0
        self._kind: ReplicaKind = "runner"

    # dialect hooks
    def _conn(self) -> Any:
        raise NotImplementedError

    def _db_now(self, db: Any) -> float:
        """Epoch seconds on the database's clock (leases are judged by one clock)."""
        return time.time()

    def _serialize_starts(self, db: Any) -> None:
        """Make the count-then-start of try_start atomic across replicas."""

    def _sql(self, text: str) -> str:
        return text

    # plumbing
    def _ex(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return db.execute(self._sql(sql), params)

    def _many(self, db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            db.executemany(self._sql(sql), rows)

    def _tx(self) -> AbstractContextManager[Any]:
        return transaction(self._conn(), self._lock, self._begin)

    def _later(self) -> AbstractContextManager[Any]:
        """A transaction whose commit may wait a moment for others to join it (a run's start
        and end; never a claim, which is committed before its run starts)."""
        return self._tx()

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise RunnerError(f"{what} the runs database {self.location}: {exc}") from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._guard("cannot read"), self._lock:
            rows: list[Any] = self._ex(self._conn(), sql, params).fetchall()
            return rows

    def _migrate(self, db: Any, version: int) -> None:
        """Run the schema steps after `version`, in the caller's transaction."""
        if version > SCHEMA_VERSION:
            raise RunnerError(
                f"{self.location}: the runs database was written by a newer schedctl "
                f"(schema {version}, this one knows {SCHEMA_VERSION})"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in self._steps[step].split(";"):
                if statement.strip():
                    self._ex(db, statement)
        if version < SCHEMA_VERSION:
            self._ex(db, "DELETE FROM schema_version")
            self._ex(db, "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _run_columns(self) -> str:
        extra = "r.replica, r.def_hash" if self._version >= 2 else "NULL, NULL"
        return (
            "r.run_id, r.schedule, r.trigger, r.scheduled_for, r.started_at, r.completed_at, "
            f"r.duration_ms, r.status, r.output, r.error, r.conversation_id, {extra}, "
            "COALESCE(s.disabled, 0)"
        )

    # replicas
    def join(self, kind: ReplicaKind, lease_s: float) -> str:
        self._lease_s, self._kind = lease_s, kind
        replica = new_id("replica")
        with self._guard("cannot join"), self._tx() as db:
            now = self._db_now(db)
            self._ex(
                db,
                "DELETE FROM replicas WHERE state <> 'alive' AND expires_at < ?",
                (now - REPLICA_ROWS_KEPT_S,),
            )
            self._ex(
                db,
                "INSERT INTO replicas (replica, kind, host, pid, started_at, expires_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?, 'alive')",
                (replica, kind, socket.gethostname(), os.getpid(),
                 to_text(datetime.now(timezone.utc)), now + self._grant()),
            )  # fmt: skip
        self.replica = replica
        return replica

    def _grant(self) -> float:
        # Renewed every lease/3 for 2/3 of the lease; the others look every lease/3: a replica
        # silent since its last renewal is taken over at most one lease after it fell silent,
        # and one late renewal is tolerated.
        return self._lease_s * 2 / 3

    def heartbeat(self) -> tuple[bool, list[str]]:
        if self.replica is None:
            return False, []
        with self._guard("cannot renew the lease in"), self._tx() as db:
            now = self._db_now(db)
            renewed = self._ex(
                db,
                "UPDATE replicas SET expires_at = ? WHERE replica = ? AND state = 'alive'",
                (now + self._grant(), self.replica),
            ).rowcount
            if not renewed:  # presumed dead (paused longer than the lease): serve on, anew
                self._ex(
                    db,
                    "UPDATE replicas SET state = 'alive', expires_at = ? WHERE replica = ?",
                    (now + self._grant(), self.replica),
                )
            expired = [
                r[0]
                for r in self._ex(
                    db,
                    "UPDATE replicas SET state = 'expired' "
                    "WHERE state = 'alive' AND expires_at < ? RETURNING replica",
                    (now,),
                ).fetchall()
            ]
            interrupted = self._interrupt(db, expired, now, "its lease ran out")
        return not renewed, interrupted

    def _interrupt(self, db: Any, replicas: Sequence[str], now: float, why: str) -> list[str]:
        ids: list[str] = []
        when = to_text(datetime.fromtimestamp(now, timezone.utc))
        for replica in replicas:
            ids += [
                r[0]
                for r in self._ex(
                    db,
                    "UPDATE runs SET status = 'interrupted', completed_at = ?, error = "
                    "COALESCE(error, ?) WHERE status = 'running' AND replica = ? RETURNING run_id",
                    (when, f"{INTERRUPTED}: replica {replica} {why}", replica),
                ).fetchall()
            ]
        return ids

    def leave(self, now: datetime) -> list[str]:
        if self.replica is None:
            return []
        with self._guard("cannot write"), self._tx() as db:
            ids = self._interrupt(db, [self.replica], now.timestamp(), "stopped")
            self._ex(db, "UPDATE replicas SET state = 'gone' WHERE replica = ?", (self.replica,))
        self.replica = None
        return ids

    def recover(self, now: datetime) -> list[str]:
        """Rows left 'running' by dead runners: interrupted; their slots stay claimed.

        Only for a caller that knows no other runner is alive (SQLite's lock holder): rows of
        `--once` processes whose lease still holds are theirs to finish."""
        with self._guard("cannot write"), self._tx() as db:
            t = self._db_now(db)
            dead = [
                r[0]
                for r in self._ex(
                    db,
                    "UPDATE replicas SET state = 'expired' WHERE state = 'alive' "
                    "AND (kind = 'runner' OR expires_at < ?) RETURNING replica",
                    (t,),
                ).fetchall()
            ]
            ids = self._interrupt(db, dead, t, "stopped without closing")
            ids += [
                r[0]
                for r in self._ex(
                    db,
                    "UPDATE runs SET status = 'interrupted', completed_at = ?, "
                    "error = COALESCE(error, ?) WHERE status = 'running' AND replica IS NULL "
                    "RETURNING run_id",
                    (to_text(now), INTERRUPTED),
                ).fetchall()
            ]
        return ids

    # states
    def sync_states(
        self, schedules: Sequence[tuple[str, str, str]], now: datetime
    ) -> dict[str, ScheduleState]:
        out: dict[str, ScheduleState] = {}
        new: list[ScheduleState] = []
        changed: list[ScheduleState] = []
        with self._guard("cannot write"), self._tx() as db:
            known = {
                r[0]: _state_from(r)
                for r in self._ex(db, f"SELECT {_STATE_COLUMNS} FROM schedule_state").fetchall()
            }
            for key, spec_fp, def_fp in schedules:
                old = known.get(key)
                state = synced(old, key, spec_fp, def_fp, now)
                out[key] = state
                if old is None:
                    new.append(state)
                elif state is not old:
                    changed.append(state)
            # Another replica may insert the same schedule meanwhile: first one wins. Neither
            # statement touches last_slot or the conversation, which claims move.
            self._many(
                db,
                f"INSERT INTO schedule_state ({_STATE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (schedule) DO NOTHING",
                [_state_params(s) for s in new],
            )
            self._many(
                db,
                "UPDATE schedule_state SET spec_fp = ?, def_fp = ?, seen_at = ?, "
                "consecutive_errors = 0, disabled = 0, disabled_reason = NULL, retired = 0 "
                "WHERE schedule = ?",
                [(s.spec_fp, s.def_fp, to_text(s.seen_at), s.schedule) for s in changed],
            )
        return out

    # the run lifecycle
    def claim_many(self, offers: Sequence[Offer]) -> list[Claim | RunRecord | None]:
        # One transaction (one commit) for a burst of fires at one instant.
        try:
            with self._guard("cannot write"), self._tx() as db:
                return [self._claim_in(db, o) for o in offers]
        except _Lost:  # a row the watermark did not know of (written by a batch): one by one
            if len(offers) == 1:
                return [None]
            return [self.claim_many([o])[0] for o in offers]

    def _claim_in(self, db: Any, o: Offer) -> Claim | RunRecord | None:
        key, slot, trigger, now, def_hash = o.key, o.slot, o.trigger, o.now, o.def_hash
        slot_text = to_text(slot)
        running_sql = "SELECT run_id FROM runs WHERE schedule = ? AND status = 'running' LIMIT 1"
        if trigger == "scheduler":
            # The watermark first: it takes the schedule's row lock, so what follows (still
            # running? which conversation?) sees settled state, and claimers of one schedule
            # queue here.
            row = self._ex(
                db,
                "UPDATE schedule_state SET last_slot = ? WHERE schedule = ? "
                "AND (last_slot IS NULL OR last_slot < ?) AND disabled = 0 AND retired = 0 "
                f"RETURNING conversation_id, {self._running_returned}",
                (slot_text, key, slot_text),
            ).fetchone()
            if row is None:
                return None
        else:
            row = self._ex(
                db,
                f"SELECT conversation_id, NULL FROM schedule_state WHERE schedule = ?{self._for_update}",
                (key,),
            ).fetchone()
            if row is None:
                raise RunnerError(f"{key}: no state row (sync_states first)")
        running = row[1]
        if trigger != "scheduler" or self._running_returned == "NULL":
            found = self._ex(db, running_sql, (key,)).fetchone()
            running = None if found is None else found[0]
        skip_reason = o.skip_reason
        if running is not None and skip_reason is None:
            skip_reason = still_running(running)
        run_id = new_id("run")
        if skip_reason is not None:
            record = RunRecord(
                run_id, key, trigger, slot, now, now, 0, "skipped", "", skip_reason, None,
                self.replica, def_hash,
            )  # fmt: skip
            self._insert_claim(db, record)
            return record
        conversation_id, turns = self._conversation(db, key, row[0], o.conversation, o.with_turns)
        record = RunRecord(
            run_id, key, trigger, slot, None, None, None, "running", "", None,
            conversation_id, self.replica, def_hash,
        )  # fmt: skip
        self._insert_claim(db, record)
        return Claim(run_id, key, trigger, slot, conversation_id, turns, def_hash)

    def _insert_claim(self, db: Any, record: RunRecord) -> None:
        cur = self._ex(db, _RUN_INSERT + " ON CONFLICT DO NOTHING", _run_params(record))
        if cur.rowcount == 0:
            raise _Lost

    def _conversation(
        self, db: Any, key: str, kept: str | None, conversation: Conversation, with_turns: bool
    ) -> tuple[str | None, list[tuple[Role, str]]]:
        if conversation == "fresh":
            return new_id("conv"), []
        if conversation == "none":
            return None, []
        if kept is None:
            kept = new_id("conv")
            self._ex(
                db, "UPDATE schedule_state SET conversation_id = ? WHERE schedule = ?", (kept, key)
            )
            return kept, []
        if not with_turns:
            return kept, []
        rows = self._ex(
            db, "SELECT role, content FROM turns WHERE conversation_id = ? ORDER BY seq", (kept,)
        ).fetchall()
        return kept, [(r[0], r[1]) for r in rows]

    def pass_slot(self, key: str, slot: datetime) -> None:
        text = to_text(slot)
        with self._guard("cannot write"), self._tx() as db:
            self._ex(
                db,
                "UPDATE schedule_state SET last_slot = ? WHERE schedule = ? "
                "AND (last_slot IS NULL OR last_slot < ?)",
                (text, key, text),
            )

    def release(self, claim: Claim) -> None:
        before = to_text(claim.scheduled_for - _TICK)  # every earlier slot stays handled
        with self._guard("cannot write"), self._tx() as db:
            gone = self._ex(
                db,
                "DELETE FROM runs WHERE run_id = ? AND status = 'running' AND started_at IS NULL",
                (claim.run_id,),
            ).rowcount
            if gone:
                self._ex(
                    db,
                    "UPDATE schedule_state SET last_slot = ? WHERE schedule = ? AND last_slot = ?",
                    (before, claim.schedule, to_text(claim.scheduled_for)),
                )

    def try_start(self, run_id: str, at: datetime, limit: int) -> StartResult:
        with self._guard("cannot write"), self._later() as db:
            if self._shared_bound:
                self._serialize_starts(db)
                busy = self._ex(
                    db,
                    "SELECT count(*) FROM runs WHERE status = 'running' AND started_at IS NOT NULL",
                ).fetchone()[0]
                if busy >= limit:
                    return "busy"
            started = self._ex(
                db,
                "UPDATE runs SET started_at = ? WHERE run_id = ? AND status = 'running'",
                (to_text(at), run_id),
            ).rowcount
        return "started" if started else "gone"

    def _finish(self, done: Finished) -> tuple[RunRecord, ScheduleState | None]:
        claim = done.claim
        key, conversation_id, turns = claim.schedule, claim.conversation_id, done.turns
        with self._guard("cannot write"), self._later() as db:
            row = self._ex(
                db,
                f"SELECT {_STATE_COLUMNS} FROM schedule_state WHERE schedule = ?{self._for_update}",
                (key,),
            ).fetchone()
            before = None if row is None else _state_from(row)
            state, error = done.ruled(before)
            if state is not None and state is not before:
                # Only the rule fields: a claim may have moved last_slot meanwhile.
                self._ex(
                    db,
                    "UPDATE schedule_state SET consecutive_errors = ?, disabled = ?, "
                    "disabled_reason = ?, retired = ? WHERE schedule = ?",
                    (state.consecutive_errors, int(state.disabled), state.disabled_reason,
                     int(state.retired), key),
                )  # fmt: skip
            record = done.record(state, error, self.replica)
            self._ex(
                db,
                "UPDATE runs SET status = ?, started_at = ?, completed_at = ?, duration_ms = ?, "
                "output = ?, error = ? WHERE run_id = ?",
                (done.status, to_text(done.started_at), to_text(done.completed_at),
                 record.duration_ms, done.output, error, claim.run_id),
            )  # fmt: skip
            if turns and conversation_id is not None:
                seq = self._ex(
                    db,
                    "SELECT COALESCE(MAX(seq), 0) FROM turns WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()[0]
                self._many(
                    db,
                    _TURN_INSERT,
                    [
                        (conversation_id, seq + i, role, content, claim.run_id)
                        for i, (role, content) in enumerate(turns, start=1)
                    ],
                )
        return record, state

    # bulk writes (a simulation's rows, see BatchRunStore)
    def write_batch(
        self,
        runs: Sequence[RunRecord],
        states: Sequence[ScheduleState],
        turns: Sequence[tuple[str, int, Role, str, str]] = (),
    ) -> None:
        with self._guard("cannot write"), self._tx() as db:
            self._many(db, _RUN_INSERT, [_run_params(r) for r in runs])
            self._many(db, _TURN_INSERT, turns)
            self._many(
                db,
                f"INSERT INTO schedule_state ({_STATE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (schedule) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS.split(", ")[1:]),
                [_state_params(s) for s in states],
            )

    # reading
    def list_runs(self, name: str | None = None, limit: int = 20) -> list[RunRecord]:
        where = "WHERE r.schedule = ?" if name else ""
        params: list[Any] = [name] if name else []
        rows = self._query(
            f"SELECT {self._run_columns()} FROM runs r LEFT JOIN schedule_state s "
            f"ON s.schedule = r.schedule {where} ORDER BY {self._order} DESC LIMIT ?",
            [*params, limit],
        )
        return [_run_from(r) for r in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query(
            f"SELECT {self._run_columns()} FROM runs r LEFT JOIN schedule_state s "
            "ON s.schedule = r.schedule WHERE r.run_id = ?",
            [run_id],
        )
        return _run_from(rows[0]) if rows else None

    def states(self) -> dict[str, ScheduleState]:
        rows = self._query(f"SELECT {_STATE_COLUMNS} FROM schedule_state")
        return {r[0]: _state_from(r) for r in rows}

    def turns(self, conversation_id: str) -> list[tuple[Role, str]]:
        rows = self._query(
            "SELECT role, content FROM turns WHERE conversation_id = ? ORDER BY seq",
            [conversation_id],
        )
        return [(r[0], r[1]) for r in rows]

    def replicas(self) -> list[Replica]:
        if self._version < 2:
            return []
        rows = self._query(
            "SELECT replica, kind, host, pid, started_at, expires_at, state FROM replicas "
            "ORDER BY started_at"
        )
        return [Replica(*r) for r in rows]


# One step per schema version; a new version appends a step and never edits an old one.
def schema_steps(*, identity: str, bigint: str, double: str) -> dict[int, str]:
    """The schema's steps in one SQL dialect: `identity` is the column that orders rows where
    the table keeps no order of its own ("" in SQLite: its rowid does), `bigint` and `double`
    the names of those types. SQLite and PostgreSQL hold one schema through it."""
    return {
        1: f"""
CREATE TABLE IF NOT EXISTS runs (
{identity}    run_id          TEXT PRIMARY KEY,
    schedule        TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('scheduler', 'manual')),
    scheduled_for   TEXT,
    started_at      TEXT,
    completed_at    TEXT,
    duration_ms     {bigint},
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
)
""",
        2: f"""
CREATE TABLE schema_version (version INTEGER NOT NULL);
ALTER TABLE runs ADD COLUMN replica TEXT;
ALTER TABLE runs ADD COLUMN def_hash TEXT;
CREATE UNIQUE INDEX runs_claims ON runs (schedule, scheduled_for) WHERE trigger = 'scheduler';
CREATE TABLE replicas (
    replica    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    expires_at {double} NOT NULL,
    state      TEXT NOT NULL
);
CREATE INDEX replicas_alive ON replicas (expires_at) WHERE state = 'alive'
""",
    }


_SQLITE_STEPS = schema_steps(identity="", bigint="INTEGER", double="REAL")


class SqliteRunStore(SqlRunStore):
    """The embedded store: one connection shared by the scheduler and the workers, behind a
    lock. `path` None keeps everything in memory.

    `group_commit` (the live runner): a run's start mark and its end are committed together
    with whatever comes in the next GROUP_COMMIT_S, or with the next claim, whichever is first.
    A commit costs ten statements, and a burst of runs would otherwise pay two per run. A kill
    in that moment loses the marks, never a claim: the run is then recorded interrupted.
    """

    _begin = "BEGIN IMMEDIATE"
    _steps = _SQLITE_STEPS
    # One live runner per file (the scheduler's lock): its own pool of --max-concurrent
    # workers is the bound, and a start needs no count of everyone's runs.
    _shared_bound = False

    def __init__(
        self, path: str | Path | None, *, readonly: bool = False, group_commit: bool = False
    ) -> None:
        super().__init__()
        self._pending = False  # a transaction is open with starts or ends not yet committed
        self._wake = threading.Event()
        self._closing = False
        self._flusher: threading.Thread | None = None
        self.path = None if path is None else Path(path)
        self.location = str(self.path or ":memory:")
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
            self._version = self._read_version()
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a commit survives a process kill; only a power cut may
                # lose the last transactions, and then the slot and its row vanish together.
                self._db.execute("PRAGMA synchronous=NORMAL")
                if self._version != SCHEMA_VERSION:
                    with self._tx() as db:
                        self._migrate(db, self._read_version())  # again, under the write lock
                        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    self._version = SCHEMA_VERSION
            elif self._version > SCHEMA_VERSION:
                self._migrate(self._db, self._version)  # raises: written by a newer schedctl
        except (sqlite3.Error, OSError, RunnerError) as exc:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(exc, RunnerError):
                raise
            raise RunnerError(f"cannot open the runs database {self.location}: {exc}") from None
        self._checkpointer: sqlite3.Connection | None = None
        self._unsynced = False  # commits since the last checkpoint
        if group_commit and not readonly:
            if self.path is not None:
                # A checkpoint copies the WAL into the file and syncs it: slow on a busy disk,
                # and SQLite's automatic one runs inside a commit, with the store held. The
                # flusher runs it instead, on a connection of its own, beside claims and starts.
                self._db.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = sqlite3.connect(
                    self.path, timeout=10.0, check_same_thread=False
                )
            self._flusher = threading.Thread(
                target=self._flush_loop, name="schedctl-commit", daemon=True
            )
            self._flusher.start()

    def _tx(self) -> AbstractContextManager[Any]:
        return self._step(commit=True) if self._flusher else super()._tx()

    def _later(self) -> AbstractContextManager[Any]:
        return self._step(commit=False) if self._flusher else super()._tx()

    @contextmanager
    def _step(self, *, commit: bool) -> Iterator[sqlite3.Connection]:
        """One step in the open group (a savepoint, so a failure undoes only itself)."""
        with self._lock:
            nested = self._pending
            self._db.execute("SAVEPOINT step" if nested else self._begin)
            try:
                yield self._db
            except BaseException:
                if nested:
                    self._db.execute("ROLLBACK TO step")
                    self._db.execute("RELEASE step")
                else:
                    self._db.execute("ROLLBACK")
                raise
            if nested:
                self._db.execute("RELEASE step")
            if commit:
                self._db.execute("COMMIT")
                self._pending = False
                self._unsynced = True
            elif not self._pending:
                self._pending = True
                self._wake.set()

    def _flush_loop(self) -> None:
        checkpointed = time.monotonic()
        while True:
            # Idle with nothing to checkpoint: no timeout, no wake-ups.
            self._wake.wait(CHECKPOINT_EVERY_S if self._unsynced else None)
            if self._closing:
                return
            if self._wake.is_set():
                time.sleep(GROUP_COMMIT_S)  # let the rest of a burst join this commit
                with self._lock:
                    self._wake.clear()
                    self._commit_pending()
            due = time.monotonic() - checkpointed >= CHECKPOINT_EVERY_S
            if self._checkpointer is not None and self._unsynced and due:
                checkpointed = time.monotonic()
                self._unsynced = False
                try:  # PASSIVE: never waits for, nor blocks, the runner's own connection
                    self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    logging.getLogger("reconciler.runner").debug("checkpoint: %s", exc)

    def _commit_pending(self) -> None:
        """With the lock held."""
        if not self._pending:
            return
        self._pending = False
        self._unsynced = True
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # the disk is full or gone: those runs stay open
            logging.getLogger("reconciler.runner").warning(
                "cannot commit run starts and ends to %s: %s", self.location, exc
            )
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def _read_version(self) -> int:
        """schema_version from version 2 on; version 1 kept it in PRAGMA user_version only."""
        if self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone():
            return int(self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0])
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        return self._db

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._version == 0:
            return []  # a database no runner has written to yet
        return super()._query(sql, params)

    def close(self) -> None:
        if self._flusher is not None:
            self._closing = True
            self._wake.set()
            self._flusher.join(timeout=5)
        with self._lock:
            self._commit_pending()
            self._db.close()
        if self._checkpointer is not None:
            self._checkpointer.close()  # the last connection out checkpoints the rest


# -- the batch store (`--simulate`) ------------------------------------------------------------


class BatchRunStore(RunStore):
    """A virtual clock's store: one writer, runs inline, nobody reads until it is done.

    States live in memory; run rows and changed states go to `path` in bulk (every
    FLUSH_EVERY finished runs, and at close), so a simulated week takes seconds. Without a
    path it keeps schedule state but no run history: every run already went to the caller.
    No replicas, no leases: a crash of a simulation has nothing to protect.
    """

    durable = False

    def __init__(self, path: str | Path | None) -> None:
        self._file = None if path is None else SqliteRunStore(path)
        self.location = ":memory:" if self._file is None else self._file.location
        self._states: dict[str, ScheduleState] = {} if self._file is None else self._file.states()
        self._pending: dict[str, RunRecord] = {}
        self._dirty: set[str] = set()
        self._turns: dict[str, list[tuple[Role, str]]] = {}  # per conversation, as far as known
        self._new_turns: list[tuple[str, int, Role, str, str]] = []

    def close(self) -> None:
        self._flush(everything=True)
        if self._file is not None:
            self._file.close()

    def _flush(self, *, everything: bool = False) -> None:
        """Running rows stay unless `everything` (close): they would be rewritten at finish."""
        done = [r for r in self._pending.values() if everything or r.status != "running"]
        for r in done:
            del self._pending[r.run_id]
        if self._file is not None and (done or self._dirty or self._new_turns):
            self._file.write_batch(done, [self._states[k] for k in self._dirty], self._new_turns)
        self._dirty.clear()
        self._new_turns = []

    def _save(self, state: ScheduleState) -> None:
        self._states[state.schedule] = state
        self._dirty.add(state.schedule)

    def recover(self, now: datetime) -> list[str]:
        return [] if self._file is None else self._file.recover(now)

    def join(self, kind: ReplicaKind, lease_s: float) -> str:
        raise RunnerError("a simulation joins no replicas")

    def heartbeat(self) -> tuple[bool, list[str]]:
        return False, []

    def leave(self, now: datetime) -> list[str]:
        return []

    def sync_states(
        self, schedules: Sequence[tuple[str, str, str]], now: datetime
    ) -> dict[str, ScheduleState]:
        out: dict[str, ScheduleState] = {}
        for key, spec_fp, def_fp in schedules:
            old = self._states.get(key)
            state = synced(old, key, spec_fp, def_fp, now)
            if state is not old:
                self._save(state)
            out[key] = state
        return out

    def claim_many(self, offers: Sequence[Offer]) -> list[Claim | RunRecord | None]:
        return [self._claim_one(o) for o in offers]

    def _claim_one(self, o: Offer) -> Claim | RunRecord | None:
        key, slot, trigger, now, skip_reason, def_hash = (
            o.key, o.slot, o.trigger, o.now, o.skip_reason, o.def_hash
        )  # fmt: skip
        conversation, with_turns = o.conversation, o.with_turns
        state = self._states.get(key)
        if state is None:
            raise RunnerError(f"{key}: no state row (sync_states first)")
        new = state
        if trigger == "scheduler":
            if (
                (state.last_slot is not None and state.last_slot >= slot)
                or state.disabled
                or state.retired
            ):
                return None
            new = replace(new, last_slot=slot)
        run_id = new_id("run")
        # Runs execute inline and nothing else writes: none is running now.
        conversation_id: str | None = None
        if skip_reason is None and conversation == "fresh":
            conversation_id = new_id("conv")
        elif skip_reason is None and conversation == "keep":
            conversation_id = state.conversation_id
            if conversation_id is None:
                conversation_id = new_id("conv")
                new = replace(new, conversation_id=conversation_id)
        if new is not state:
            self._save(new)
        if skip_reason is not None:
            skipped = RunRecord(
                run_id, key, trigger, slot, now, now, 0, "skipped", "", skip_reason, None,
                None, def_hash,
            )  # fmt: skip
            self._pending[run_id] = skipped
            return skipped
        self._pending[run_id] = RunRecord(
            run_id, key, trigger, slot, None, None, None, "running", "", None, conversation_id,
            None, def_hash,
        )  # fmt: skip
        turns = list(self.turns(conversation_id)) if with_turns and conversation_id else []
        return Claim(run_id, key, trigger, slot, conversation_id, turns, def_hash)

    def pass_slot(self, key: str, slot: datetime) -> None:
        state = self._states.get(key)
        if state is not None and (state.last_slot is None or state.last_slot < slot):
            self._save(replace(state, last_slot=slot))

    def try_start(self, run_id: str, at: datetime, limit: int) -> StartResult:
        return "started"

    def release(self, claim: Claim) -> None:
        self._pending.pop(claim.run_id, None)
        state = self._states.get(claim.schedule)
        if state is not None and state.last_slot == claim.scheduled_for:
            self._save(replace(state, last_slot=claim.scheduled_for - _TICK))

    def _finish(self, done: Finished) -> tuple[RunRecord, ScheduleState | None]:
        claim = done.claim
        before = self._states.get(claim.schedule)
        state, error = done.ruled(before)
        if state is not None and state is not before:
            self._save(state)
        record = done.record(state, error, None)
        self._pending[claim.run_id] = record
        if done.turns and claim.conversation_id is not None:
            kept = self.turns(claim.conversation_id)
            for role, content in done.turns:
                kept.append((role, content))
                self._new_turns.append(
                    (claim.conversation_id, len(kept), role, content, claim.run_id)
                )
        if len(self._pending) >= FLUSH_EVERY:
            self._flush()
        return record, state

    def _reader(self) -> SqliteRunStore:
        if self._file is None:
            raise RunnerError("an in-memory simulation keeps no run history")
        self._flush()
        return self._file

    def list_runs(self, name: str | None = None, limit: int = 20) -> list[RunRecord]:
        return self._reader().list_runs(name, limit)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self._reader().get_run(run_id)

    def states(self) -> dict[str, ScheduleState]:
        return dict(self._states)

    def turns(self, conversation_id: str) -> list[tuple[Role, str]]:
        """The conversation's turns, kept in memory once read (the caller may append)."""
        kept = self._turns.get(conversation_id)
        if kept is None:
            kept = self._turns[conversation_id] = (
                [] if self._file is None else self._file.turns(conversation_id)
            )
        return kept

    def replicas(self) -> list[Replica]:
        return []


# -- opening -----------------------------------------------------------------------------------


def is_url(store: str) -> bool:
    return store.startswith(("postgresql://", "postgres://"))


def open_store(
    db_path: Path | None,
    url: str | None = None,
    *,
    batch: bool = False,
    readonly: bool = False,
    group_commit: bool = False,
) -> RunStore:
    """The store for a runner or a reader: PostgreSQL at `url`, else SQLite at `db_path`."""
    if url is not None:
        from reconciler.runner.postgres import PostgresRunStore

        return PostgresRunStore(url, readonly=readonly)
    if batch:
        return BatchRunStore(db_path)
    return SqliteRunStore(db_path, readonly=readonly, group_commit=group_commit)


def list_runs(
    db_path: str | Path | None, name: str | None = None, limit: int = 20, *, url: str | None = None
) -> list[RunRecord]:
    """The local runner's history, most recent first (`schedctl runs --local`). Reads only."""
    if url is None:
        path = Path(cast("str | Path", db_path))
        if not path.is_file():
            raise RunnerError(
                f"no runs database at {path} (`schedctl run` creates it on its first run)"
            )
        db_path = path
    with open_store(None if db_path is None else Path(db_path), url, readonly=True) as store:
        return store.list_runs(name, limit)

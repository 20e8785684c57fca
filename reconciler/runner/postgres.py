"""The runs database on PostgreSQL (psycopg 3): the SQLite schema and semantics, for replicas.

Any number of `schedctl run` processes on any machines share one database. What SQLite gets
from its single writer, PostgreSQL gets from row locks and two advisory locks: the schema
migration and the count-then-start of `--max-concurrent` each run under one.

Install with `pip install 'schedctl[postgres]'`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from reconciler.errors import RunnerError, UsageError
from reconciler.runner.store import SCHEMA_VERSION, SqlRunStore, schema_steps

# pg_advisory_xact_lock keys: arbitrary constants, "schedctl" in ASCII, then the purpose.
_MIGRATE_LOCK = 0x7363686564637401
_START_LOCK = 0x7363686564637402

_PG_STEPS = schema_steps(
    identity="    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,\n",
    bigint="BIGINT",
    double="DOUBLE PRECISION",
)


def has_password(url: str) -> bool:
    """A password in the URL itself (user:pw@ or ?password=), which `ps` and history show."""
    parts = urlsplit(url)
    return parts.password is not None or any(
        k == "password" for k, _ in parse_qsl(parts.query, keep_blank_values=True)
    )


def redact(url: str) -> str:
    """The URL for messages: no password, wherever it was."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{k}={'***' if k == 'password' else v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class PostgresRunStore(SqlRunStore):
    """One connection (autocommit; transactions by `transaction`) behind a lock."""

    _for_update = " FOR UPDATE"
    _order = "r.seq"
    _running_returned = "NULL"
    _steps = _PG_STEPS

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        try:
            import psycopg
        except ImportError:
            raise UsageError(
                "--store postgresql://… needs psycopg: pip install 'schedctl[postgres]'"
            ) from None
        super().__init__()
        self._psycopg = psycopg
        self._errors = (psycopg.Error,)
        self._url = url
        self._readonly = readonly
        self.location = redact(url)
        self._db = self._connect()
        try:
            with self._guard("cannot open"):
                if readonly:
                    self._version = self._read_version(self._db)
                    if self._version > SCHEMA_VERSION:
                        self._migrate(self._db, self._version)  # raises: from a newer schedctl
                else:
                    with self._tx() as db:
                        self._ex(db, "SELECT pg_advisory_xact_lock(?)", (_MIGRATE_LOCK,))
                        self._migrate(db, self._read_version(db))
                    self._version = SCHEMA_VERSION
        except BaseException:
            self._db.close()
            raise

    def _connect(self) -> Any:
        try:
            db = self._psycopg.connect(
                self._url, autocommit=True, connect_timeout=10, application_name="schedctl"
            )
            if self._readonly:
                db.execute("SET default_transaction_read_only = on")
            return db
        except self._psycopg.Error as exc:
            raise RunnerError(
                f"cannot open the runs database {self.location}: {str(exc).strip()}"
            ) from None

    def _read_version(self, db: Any) -> int:
        if db.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            runs = db.execute("SELECT to_regclass('runs')").fetchone()[0]
            return 0 if runs is None else 1
        return int(db.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def _conn(self) -> Any:
        if self._db.closed or self._db.broken:  # the server restarted or the network dropped
            self._db = self._connect()
        return self._db

    def _sql(self, text: str) -> str:
        sql = self._sql_cache.get(text)
        if sql is None:
            sql = self._sql_cache[text] = text.replace("?", "%s")
        return sql

    def _many(self, db: Any, sql: str, rows: Any) -> None:
        if rows:
            with db.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def _db_now(self, db: Any) -> float:
        return float(db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

    def _serialize_starts(self, db: Any) -> None:
        self._ex(db, "SELECT pg_advisory_xact_lock(?)", (_START_LOCK,))

    def _query(self, sql: str, params: Any = ()) -> list[Any]:
        if self._version == 0:
            return []  # a database no runner has written to yet
        return super()._query(sql, params)

    def close(self) -> None:
        with self._lock:
            self._db.close()

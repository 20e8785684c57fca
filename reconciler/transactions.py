"""One transaction helper for every database schedctl writes (sandbox and runner, SQLite and
PostgreSQL): the connection stays in autocommit, and a block that must be atomic says so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar


class Executes(Protocol):
    """What sqlite3 and psycopg connections share: `execute(sql)`."""

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any: ...


C = TypeVar("C", bound=Executes)


@contextmanager
def transaction(conn: C, lock: AbstractContextManager[Any], begin: str = "BEGIN") -> Iterator[C]:
    """`begin` ... COMMIT around the block, ROLLBACK when it raises; one thread at a time.

    The connection is shared by threads, so the lock is held for the whole transaction (a
    re-entrant one lets a caller that holds it already open the transaction inside).
    SQLite writers pass "BEGIN IMMEDIATE": the write lock is taken up front, so two
    writers queue on busy_timeout instead of one failing on upgrade from a read.
    """
    with lock:
        conn.execute(begin)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

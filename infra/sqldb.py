"""A small SQL adapter for the read models: one dialect of SQL (``%s`` placeholders) on SQLite or PostgreSQL.

Read models live in their own tables beside the event store (the SQLite file ``readmodels.sqlite3`` in the
data dir, or the PostgreSQL database/schema). A projection writes its rows and its tracking position through
one :meth:`transaction`, so a view is never ahead of or behind its position.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from infra.settings import Settings


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class SqlDatabase:
    """Thread-safe access to the read-model database. ``%s`` placeholders on both engines."""

    dialect: str

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction() as cur:
            cur.execute(sql, params)
            return rows_as_dicts(cur)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as cur:
            cur.execute(sql, params)

    def close(self) -> None:
        pass


def rows_as_dicts(cur: Any) -> list[dict[str, Any]]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class _SqliteCursor:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(sql.replace("%s", "?"), tuple(params))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class SqliteDatabase(SqlDatabase):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        conn = self._connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteCursor(cur)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            cur.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class PostgresDatabase(SqlDatabase):
    dialect = "postgres"

    def __init__(self, url: str, schema: str | None) -> None:
        from psycopg_pool import ConnectionPool

        kwargs: dict[str, Any] = {"autocommit": False}
        if schema:
            kwargs["options"] = f"-c search_path={schema}"
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                try:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                except psycopg.errors.UniqueViolation:  # another process created it this instant
                    pass
        self._pool = ConnectionPool(url, min_size=1, max_size=8, kwargs=kwargs, open=True)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def close(self) -> None:
        self._pool.close()


def open_database(settings: Settings) -> SqlDatabase:
    if settings.database_url:
        return PostgresDatabase(settings.database_url, settings.database_schema)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(settings.data_dir / "readmodels.sqlite3"))

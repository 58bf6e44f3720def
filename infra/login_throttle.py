"""Failed sign-ins per username, counted in a table of the read-model database, so every API process shares them
(PostgreSQL in production, the SQLite file in embedded mode)."""

from __future__ import annotations

import time
from collections.abc import Callable

from infra.sqldb import SqlDatabase

TABLES = (
    "CREATE TABLE IF NOT EXISTS login_failures (username TEXT NOT NULL, failed_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, failed_at)",
)


class LoginThrottle:
    """At most ``limit`` failed sign-ins per username within ``window_s`` seconds (a sliding window)."""

    def __init__(self, db: SqlDatabase, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.db, self.limit, self.window_s, self.clock = db, limit, window_s, clock

    def create_tables(self) -> None:
        with self.db.transaction() as cur:
            for ddl in TABLES:
                cur.execute(ddl)

    def retry_after(self, username: str) -> float | None:
        """Seconds until ``username`` may try again; None when it may now."""
        now = self.clock()
        rows = self.db.query(
            "SELECT failed_at FROM login_failures WHERE username = %s AND failed_at > %s ORDER BY failed_at",
            (username.lower(), now - self.window_s),
        )
        if len(rows) < self.limit:
            return None
        return max(0.0, float(rows[-self.limit]["failed_at"]) + self.window_s - now)

    def record_failure(self, username: str) -> None:
        now = self.clock()
        with self.db.transaction() as cur:
            cur.execute(
                "DELETE FROM login_failures WHERE username = %s AND failed_at <= %s",
                (username.lower(), now - self.window_s),
            )
            cur.execute("INSERT INTO login_failures (username, failed_at) VALUES (%s, %s)", (username.lower(), now))

    def clear(self, username: str) -> None:
        self.db.execute("DELETE FROM login_failures WHERE username = %s", (username.lower(),))

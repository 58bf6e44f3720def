"""Events a consumer could not handle, parked so that the consumer moves on: one bad event never stops the others.

Every consumer of events (each projection, the relay, the usage meter) that fails on one records the failure here
(``failing``: it retries; ``/ready`` names it). A failure of the event itself (``infra.failures.ITEM``) that
persists is **parked**: the consumer goes on past it, and retries it now and then (``retry_s``) until it succeeds
(the cause was fixed: a new version, a repaired row), when its row is deleted. Outages are never parked; systemic
failures (a missing table) stay ``failing`` until fixed. ``/ready`` and ``/metrics`` report both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from infra.sqldb import Cursor, SqlDatabase

DDL = (
    "CREATE TABLE IF NOT EXISTS consumer_faults (consumer TEXT NOT NULL, event_id TEXT NOT NULL, "
    "position BIGINT NOT NULL, aggregate_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "error TEXT NOT NULL, first_at TEXT NOT NULL, last_at TEXT NOT NULL, PRIMARY KEY (consumer, event_id))"
)
FAILING, PARKED = "failing", "parked"
#: Tries of one event before it is parked.
PARK_AFTER = 3


def now() -> str:
    return datetime.now(UTC).isoformat()


class Parking:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def create_tables(self) -> None:
        with self.db.transaction() as cur:
            cur.execute(DDL)

    def failed(
        self, consumer: str, event_id: str, position: int, aggregate_id: str, error: str, cur: Cursor | None = None
    ) -> int:
        """Record one failed try of an event; answers how many tries failed so far."""
        stamp = now()
        params = (consumer, event_id, position, aggregate_id, FAILING, error, stamp, stamp)
        sql = (
            "INSERT INTO consumer_faults (consumer, event_id, position, aggregate_id, state, attempts, error, "
            "first_at, last_at) VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (consumer, event_id) DO "
            "UPDATE SET attempts = consumer_faults.attempts + 1, error = excluded.error, last_at = excluded.last_at"
        )
        if cur is not None:
            cur.execute(sql, params)
            return self._attempts(cur, consumer, event_id)
        with self.db.transaction() as own:
            own.execute(sql, params)
            return self._attempts(own, consumer, event_id)

    def _attempts(self, cur: Cursor, consumer: str, event_id: str) -> int:
        cur.execute("SELECT attempts FROM consumer_faults WHERE consumer = %s AND event_id = %s", (consumer, event_id))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def park(self, cur: Cursor, consumer: str, event_id: str, position: int, aggregate_id: str, error: str) -> None:
        """Park an event (in the consumer's own transaction, beside its tracking)."""
        stamp = now()
        cur.execute(
            "INSERT INTO consumer_faults (consumer, event_id, position, aggregate_id, state, attempts, error, "
            "first_at, last_at) VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (consumer, event_id) DO "
            "UPDATE SET state = excluded.state, error = excluded.error, last_at = excluded.last_at",
            (consumer, event_id, position, aggregate_id, PARKED, error, stamp, stamp),
        )

    def clear(self, cur: Cursor, consumer: str, event_ids: Sequence[str]) -> None:
        """The events were handled after all."""
        for event_id in event_ids:
            cur.execute("DELETE FROM consumer_faults WHERE consumer = %s AND event_id = %s", (consumer, event_id))

    def clear_failing(self, consumer: str) -> None:
        """The consumer went past what it was failing on (it succeeded, or parked it)."""
        self.db.execute("DELETE FROM consumer_faults WHERE consumer = %s AND state = %s", (consumer, FAILING))

    def parked(self, consumer: str) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT event_id, position, aggregate_id, attempts, error FROM consumer_faults "
            "WHERE consumer = %s AND state = %s ORDER BY position",
            (consumer, PARKED),
        )

    def summary(self) -> dict[str, dict[str, int]]:
        """``{consumer: {"failing": n, "parked": n}}`` of every consumer with a fault."""
        rows = self.db.query("SELECT consumer, state, count(*) AS n FROM consumer_faults GROUP BY consumer, state")
        summary: dict[str, dict[str, int]] = {}
        for row in rows:
            summary.setdefault(row["consumer"], {FAILING: 0, PARKED: 0})[row["state"]] = int(row["n"])
        return summary

"""Projections: read models built from the event store's notification log, with tracking.

Each projection owns its tables and a row in ``projection_tracking``. The projector reads notifications
after the lowest tracked position and, in ONE transaction per batch, applies them to every projection that
has not seen them and advances those positions: a view is exactly-once and can be dropped and replayed.
(eventsourcing's own ``ProjectionRunner`` needs a tracking recorder per engine and subscriptions that its
SQLite recorder lacks; this keeps one code path for both modes. See docs/architecture/decisions.md.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from infra.follow import follow
from infra.sqldb import Cursor, SqlDatabase

log = logging.getLogger(__name__)

TRACKING_DDL = "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"


class Projection:
    """A read model. Subclasses set ``name`` and ``tables`` (name → DDL) and handle events by class name."""

    name: str
    tables: dict[str, str] = {}
    #: Extra statements run after the tables exist (indexes).
    indexes: Sequence[str] = ()

    def handle(self, event: Any, cur: Cursor) -> None:
        handler = getattr(self, "on_" + type(event).__qualname__.replace(".", "_"), None)
        if handler is not None:
            handler(event, cur)


def create_tables(db: SqlDatabase, projections: Sequence[Projection]) -> None:
    with db.transaction() as cur:
        cur.execute(TRACKING_DDL)
        for projection in projections:
            for ddl in projection.tables.values():
                cur.execute(ddl)
            for statement in projection.indexes:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                (projection.name,),
            )


class Projector:
    """Runs projections over the notification log of an eventsourcing application."""

    def __init__(self, app: Any, db: SqlDatabase, projections: Sequence[Projection], batch_size: int = 500) -> None:
        self.app = app
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Any], None]] = []  # called with each new event after commit

    def positions(self) -> dict[str, int]:
        rows = self.db.query("SELECT name, position FROM projection_tracking")
        return {r["name"]: int(r["position"]) for r in rows if r["name"] in self.projections}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def lag(self) -> int:
        positions = self.positions()
        return max(0, self.head() - min(positions.values(), default=0))

    def run_once(self) -> int:
        """Apply one batch; answers how many notifications were read."""
        with self._lock:
            positions = self.positions()
            start = min(positions.values(), default=0)
            notifications = self.app.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
            if not notifications:
                return 0
            events = [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]
            last = notifications[-1].id
            with self.db.transaction() as cur:
                for name, projection in self.projections.items():
                    for notification_id, event in events:
                        if notification_id > positions.get(name, 0):
                            projection.handle(event, cur)
                    cur.execute("UPDATE projection_tracking SET position = %s WHERE name = %s AND position < %s",
                                (last, name, last))
            for _, event in events:
                for listener in self.listeners:
                    listener(event)
            return len(notifications)

    def catch_up(self) -> None:
        while self.run_once() == self.batch_size:
            pass

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has reached ``position`` (read-your-writes), at most ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            positions = self.positions()
            if min(positions.values(), default=0) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def rebuild(self, name: str) -> None:
        projection = self.projections[name]
        with self._lock:
            with self.db.transaction() as cur:
                for table in projection.tables:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
            others = {n: p for n, p in self.projections.items() if n != name}
            self.projections = {name: projection}
            try:
                create_tables(self.db, [projection])
                self.db.execute("UPDATE projection_tracking SET position = 0 WHERE name = %s", (name,))
            finally:
                pass
        try:
            self.catch_up()
        finally:
            self.projections = {**others, name: projection}

    async def run_forever(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        async def step() -> int:
            return await loop.run_in_executor(None, self.run_once)

        await follow(step, wake, batch_size=self.batch_size)

"""The relay: every stored event, in order, onto ``events.<Aggregate>.<Event>``, exactly once per position.

It follows the event store's notification log from a tracked position (kept in the read-model database) and
publishes each event as a :class:`~infra.bus.messages.RelayedEvent` with its id (``<aggregate id>:<version>``) as the
message id, so a restart that re-sends the last batch is deduplicated by the bus and ignored by idempotent consumers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from infra.bus.base import Bus
from infra.bus.messages import RelayedEvent
from infra.follow import follow
from infra.sqldb import SqlDatabase

log = logging.getLogger(__name__)

DDL = "CREATE TABLE IF NOT EXISTS relay_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"


def create_tables(db: SqlDatabase, name: str = "events") -> None:
    with db.transaction() as cur:
        cur.execute(DDL)
        cur.execute("INSERT INTO relay_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING", (name,))


class Relay:
    """``recorder`` and ``mapper`` are the event store's (an eventsourcing application's): it reads, never writes."""

    def __init__(
        self, recorder: Any, mapper: Any, db: SqlDatabase, bus: Bus, name: str = "events", batch_size: int = 256
    ) -> None:
        self.recorder, self.mapper, self.db, self.bus = recorder, mapper, db, bus
        self.name = name
        self.batch_size = batch_size

    def create_tables(self) -> None:
        create_tables(self.db, self.name)

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM relay_tracking WHERE name = %s", (self.name,))
        return int(rows[0]["position"]) if rows else 0

    def _read(self, start: int) -> list[tuple[int, RelayedEvent]]:
        notifications = self.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
        return [(n.id, RelayedEvent.of(self.mapper.to_domain_event(n))) for n in notifications]

    async def run_once(self) -> int:
        loop = asyncio.get_running_loop()
        start = await loop.run_in_executor(None, self.position)
        batch = await loop.run_in_executor(None, self._read, start)
        for _, event in batch:
            await self.bus.publish(event.subject, event.encode(), msg_id=event.id)
        if batch:
            await loop.run_in_executor(
                None,
                self.db.execute,
                "UPDATE relay_tracking SET position = %s WHERE name = %s",
                (batch[-1][0], self.name),
            )
        return len(batch)

    async def run_forever(self, wake: asyncio.Event) -> None:
        await follow(self.run_once, wake, batch_size=self.batch_size)

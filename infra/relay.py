"""The relay: every stored event, in order, onto ``events.<Aggregate>.<Event>``, exactly once per position.

It follows the event store's notification log from a tracked position (kept in the read-model database) and
publishes each event with its id (``<aggregate id>:<version>``) as the message id, so a restart that re-sends
the last batch is deduplicated by the bus and ignored by idempotent consumers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from infra.bus.base import Bus
from infra.follow import follow
from infra.sqldb import SqlDatabase

log = logging.getLogger(__name__)

DDL = "CREATE TABLE IF NOT EXISTS relay_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def event_type(event: Any) -> str:
    return type(event).__qualname__


def event_id(event: Any) -> str:
    return f"{event.originator_id}:{event.originator_version}"


SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic"}
#: Derived from secrets: kept in the event store, never sent to bus subscribers or shown in audit trails.
REDACTED = {"password_hash", "key_hash", "ciphertext"}


def event_data(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event.__dict__.items() if k not in SKIP and k not in REDACTED and not k.startswith("_")}


def encode_event(event: Any) -> bytes:
    return json.dumps({
        "id": event_id(event),
        "type": event_type(event),
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "timestamp": event.timestamp.isoformat(),
        "data": event_data(event),
    }, default=_default).encode()


class Relay:
    def __init__(self, recorder: Any, mapper: Any, db: SqlDatabase, bus: Bus, name: str = "events",
                 batch_size: int = 256) -> None:
        self.recorder, self.mapper, self.db, self.bus = recorder, mapper, db, bus
        self.name = name
        self.batch_size = batch_size

    def create_tables(self) -> None:
        with self.db.transaction() as cur:
            cur.execute(DDL)
            cur.execute("INSERT INTO relay_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                        (self.name,))

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM relay_tracking WHERE name = %s", (self.name,))
        return int(rows[0]["position"]) if rows else 0

    def _read(self, start: int) -> list[tuple[int, Any]]:
        notifications = self.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    async def run_once(self) -> int:
        loop = asyncio.get_running_loop()
        start = await loop.run_in_executor(None, self.position)
        batch = await loop.run_in_executor(None, self._read, start)
        for _, event in batch:
            subject = "events." + event_type(event)
            await self.bus.publish(subject, encode_event(event), msg_id=event_id(event))
        if batch:
            await loop.run_in_executor(None, self.db.execute,
                                       "UPDATE relay_tracking SET position = %s WHERE name = %s",
                                       (batch[-1][0], self.name))
        return len(batch)

    async def run_forever(self, wake: asyncio.Event) -> None:
        await follow(self.run_once, wake, batch_size=self.batch_size)

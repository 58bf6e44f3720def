"""The relay: every stored event, in order, onto ``events.<Aggregate>.<Event>``, exactly once per position.

It follows the event store's notification log from a tracked position (kept in the read-model database) and
publishes each event as a :class:`~infra.bus.messages.RelayedEvent` with its id (``<aggregate id>:<version>``) as the
message id, so a restart that re-sends the last batch is deduplicated by the bus and ignored by idempotent consumers.

Nothing stops it for good: an event larger than the bus takes goes by reference (``RelayedEvent.encode``), and one it
cannot publish at all (it does not decode, the bus refuses it) is parked after a few tries (``infra.parking``) and
tried again every ``retry_s``, while the relay moves on. An outage is waited out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from infra import metrics
from infra.bus.base import Bus
from infra.bus.messages import RelayedEvent
from infra.failures import OUTAGE, SYSTEMIC, describe, kind_of
from infra.follow import follow
from infra.parking import PARK_AFTER, Parking
from infra.sqldb import SqlDatabase

log = logging.getLogger(__name__)

DDL = "CREATE TABLE IF NOT EXISTS relay_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
CONSUMER = "relay"


def create_tables(db: SqlDatabase, name: str = "events") -> None:
    with db.transaction() as cur:
        cur.execute(DDL)
        cur.execute("INSERT INTO relay_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING", (name,))
    Parking(db).create_tables()


def load_event(recorder: Any, mapper: Any, event_id: str) -> RelayedEvent | None:
    """The stored event ``<aggregate id>:<version>``, whole, as the relay sends it: what a consumer of an event
    relayed by reference reads."""
    from uuid import UUID

    aggregate, _, version = event_id.rpartition(":")
    try:
        originator: Any = UUID(aggregate)
    except ValueError:
        originator = aggregate
    stored = recorder.select_events(originator, gt=int(version) - 1, lte=int(version))
    return RelayedEvent.of(mapper.to_domain_event(stored[0])) if stored else None


class Relay:
    """``recorder`` and ``mapper`` are the event store's (an eventsourcing application's): it reads, never writes."""

    def __init__(
        self,
        recorder: Any,
        mapper: Any,
        db: SqlDatabase,
        bus: Bus,
        name: str = "events",
        batch_size: int = 256,
        parking: Parking | None = None,
        retry_s: float = 60.0,
    ) -> None:
        self.recorder, self.mapper, self.db, self.bus = recorder, mapper, db, bus
        self.name = name
        self.batch_size = batch_size
        self.parking = parking or Parking(db)
        self.retry_s = retry_s
        self._stuck_until = 0.0
        self._delay = 0.1
        self._failing = False
        self._parked_tried_at = 0.0

    def create_tables(self) -> None:
        create_tables(self.db, self.name)

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM relay_tracking WHERE name = %s", (self.name,))
        return int(rows[0]["position"]) if rows else 0

    def _save(self, position: int) -> None:
        self.db.execute("UPDATE relay_tracking SET position = %s WHERE name = %s", (position, self.name))

    def _read(self, start: int, limit: int, inclusive: bool = False) -> list[tuple[int, str, str, Any]]:
        """``(position, event id, aggregate id, RelayedEvent or the decoding error)`` after ``start``."""
        notifications = self.recorder.select_notifications(start, limit, inclusive_of_start=inclusive)
        read = []
        for n in notifications:
            try:
                event: Any = RelayedEvent.of(self.mapper.to_domain_event(n))
            except Exception as error:
                event = error
            read.append((n.id, f"{n.originator_id}:{n.originator_version}", str(n.originator_id), event))
        return read

    async def _publish(self, event: Any) -> None:
        if isinstance(event, Exception):
            raise event
        await self.bus.publish(event.subject, event.encode(self.bus.room), msg_id=event.id)

    async def run_once(self) -> int:
        if time.monotonic() < self._stuck_until:
            return 0
        loop = asyncio.get_running_loop()
        if time.monotonic() - self._parked_tried_at >= self.retry_s:
            self._parked_tried_at = time.monotonic()
            await self.retry_parked()
        start = await loop.run_in_executor(None, self.position)
        batch = await loop.run_in_executor(None, self._read, start, self.batch_size)
        done = start
        try:
            for position, eid, aggregate, event in batch:
                if not await self._publish_or_park(position, eid, aggregate, event):
                    return 0  # stuck on this one: tried again after a pause
                done = position
        finally:
            if done != start:
                await loop.run_in_executor(None, self._save, done)
        if self._failing:
            self._failing, self._delay = False, 0.1
            await loop.run_in_executor(None, self.parking.clear_failing, CONSUMER)
        return len(batch)

    async def _publish_or_park(self, position: int, eid: str, aggregate: str, event: Any) -> bool:
        try:
            await self._publish(event)
            return True
        except Exception as error:
            kind = kind_of(error)
            if kind == OUTAGE:
                raise
            loop = asyncio.get_running_loop()
            reason = describe(error)
            metrics.CONSUMER_FAILURES.labels(CONSUMER).inc()
            attempts = await loop.run_in_executor(None, self.parking.failed, CONSUMER, eid, position, aggregate, reason)
            self._failing = True
            if kind == SYSTEMIC or attempts < PARK_AFTER:
                log.warning("relay failed on event %s (try %d): %s", eid, attempts, reason)
                self._stuck_until, self._delay = time.monotonic() + self._delay, min(self._delay * 2, 10.0)
                return False

            def park() -> None:
                with self.db.transaction() as cur:
                    self.parking.park(cur, CONSUMER, eid, position, aggregate, reason)

            await loop.run_in_executor(None, park)
            log.error("relay parked event %s after %d tries: %s", eid, attempts, reason)
            return True

    async def retry_parked(self, limit: int = 100) -> int:
        """Publish the parked events again; answers how many went out (and left the parking)."""
        loop = asyncio.get_running_loop()
        rows = (await loop.run_in_executor(None, self.parking.parked, CONSUMER))[:limit]
        sent = 0
        for row in rows:
            found = await loop.run_in_executor(None, self._read, int(row["position"]), 1, True)
            try:
                await self._publish(found[0][3])
            except Exception as error:
                if kind_of(error) == OUTAGE:
                    raise
                continue

            def clear(event_id: str = row["event_id"]) -> None:
                with self.db.transaction() as cur:
                    self.parking.clear(cur, CONSUMER, [event_id])

            await loop.run_in_executor(None, clear)
            sent += 1
        return sent

    async def run_forever(self, wake: asyncio.Event) -> None:
        await follow(self.run_once, wake, batch_size=self.batch_size)

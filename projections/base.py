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
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from eventsourcing.domain import DomainEvent

from infra import metrics
from infra.failures import OUTAGE, SYSTEMIC, describe, kind_of
from infra.follow import follow
from infra.parking import FAILING, PARK_AFTER, Parking
from infra.sqldb import Cursor, SqlDatabase

log = logging.getLogger(__name__)

TRACKING_DDL = "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
F = TypeVar("F", bound=Callable[..., None])


def handles(*event_classes: type) -> Callable[[F], F]:
    """Mark a projection method as the handler of these event classes (``@handles(ChatSession.Started)``).

    Handlers are found by the event's class, never by its name: an event class that is renamed or removed fails
    here, when the projection is defined."""
    for cls in event_classes:
        if not (isinstance(cls, type) and issubclass(cls, DomainEvent)):
            raise TypeError(f"@handles takes domain event classes, not {cls!r}")

    def mark(method: F) -> F:
        method._handles = (*getattr(method, "_handles", ()), *event_classes)  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """A read model. Subclasses set ``name`` and ``tables`` (name → DDL) and mark their handlers with ``@handles``."""

    name: str
    tables: dict[str, str] = {}
    #: Extra statements run after the tables exist (indexes).
    indexes: Sequence[str] = ()
    #: Event class → handler method name, built from the ``@handles`` marks when the subclass is defined.
    handlers: ClassVar[dict[type, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls.handlers)
        for attr, value in vars(cls).items():
            for event_class in getattr(value, "_handles", ()):
                if event_class in handlers and handlers[event_class] != attr:
                    raise TypeError(f"{cls.__name__}: {event_class.__qualname__} is handled twice")
                handlers[event_class] = attr
        cls.handlers = handlers

    def handle(self, event: Any, cur: Cursor) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            getattr(self, handler)(event, cur)


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
    Parking(db).create_tables()


class Undecodable:
    """A stored event that does not decode (an unknown topic, a damaged record): parked like an event a projection
    cannot apply."""

    def __init__(self, error: Exception) -> None:
        self.error = error


HELD = "held behind a parked event of its aggregate"
Item = tuple[int, str, str, Any]  # (notification id, event id, aggregate id, the event or Undecodable)


def event_id(notification: Any) -> str:
    """``<aggregate id>:<version>``: the event's identity everywhere (relay message ids, parked events)."""
    return f"{notification.originator_id}:{notification.originator_version}"


class Projector:
    """Runs projections over the event store's notification log. ``recorder`` and ``mapper`` are the event store's
    (an eventsourcing application's): the projector reads them, never writes.

    One bad event never stops the others: each projection applies a batch in one transaction; when that fails,
    event by event, and an event it cannot apply is retried (``infra.parking.PARK_AFTER`` times), then parked,
    with the later events of its aggregate held behind it (so each aggregate's rows stay in event order), while the
    projection moves on. Parked events are tried again every ``retry_s`` and applied once the cause is fixed.
    Outages are waited out; a systemic failure (a missing table) leaves the projection ``failing`` until fixed.
    """

    def __init__(
        self,
        recorder: Any,
        mapper: Any,
        db: SqlDatabase,
        projections: Sequence[Projection],
        batch_size: int = 500,
        parking: Parking | None = None,
        retry_s: float = 60.0,
    ) -> None:
        self.recorder, self.mapper = recorder, mapper
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.parking = parking or Parking(db)
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Any], None]] = []  # called with each new event after commit
        self._heard = 0  # the last notification the listeners were told of
        self._held: dict[str, set[str]] | None = None  # projection → aggregates with parked events
        self._backoff: dict[str, tuple[float, float]] = {}  # failing projection → (retry at, delay)
        self._parked_tried_at = 0.0

    @staticmethod
    def consumer(name: str) -> str:
        return f"projection:{name}"

    def positions(self) -> dict[str, int]:
        rows = self.db.query("SELECT name, position FROM projection_tracking")
        return {r["name"]: int(r["position"]) for r in rows if r["name"] in self.projections}

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def lag(self) -> int:
        positions = self.positions()
        return max(0, self.head() - min(positions.values(), default=0))

    def failing(self) -> set[str]:
        """The projections stuck on an event right now (from the faults table: any process can read it)."""
        return {
            consumer.split(":", 1)[1]
            for consumer, counts in self.parking.summary().items()
            if consumer.startswith("projection:") and counts.get(FAILING)
        }

    # -- applying --------------------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Apply one batch; answers how many notifications were read."""
        with self._lock:
            if time.monotonic() - self._parked_tried_at >= self.retry_s:
                self._parked_tried_at = time.monotonic()
                self.retry_parked()
            positions = self.positions()
            start = min(positions.values(), default=0)
            notifications = self.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
            if not notifications:
                return 0
            items = [(n.id, event_id(n), str(n.originator_id), self._decode(n)) for n in notifications]
            for name, projection in self.projections.items():
                todo = [item for item in items if item[0] > positions.get(name, 0)]
                if todo and self._due(name):
                    self._project(name, projection, todo)
            self._tell_listeners(items)
            return len(notifications)

    def _decode(self, notification: Any) -> Any:
        try:
            return self.mapper.to_domain_event(notification)
        except Exception as error:
            return Undecodable(error)

    def _due(self, name: str) -> bool:
        retry_at, _ = self._backoff.get(name, (0.0, 0.0))
        return time.monotonic() >= retry_at

    def _track(self, cur: Cursor, name: str, position: int) -> None:
        cur.execute(
            "UPDATE projection_tracking SET position = %s WHERE name = %s AND position < %s",
            (position, name, position),
        )

    def _held_for(self, name: str) -> set[str]:
        if self._held is None:
            held: dict[str, set[str]] = {}
            for other in self.projections:
                held[other] = {row["aggregate_id"] for row in self.parking.parked(self.consumer(other))}
            self._held = held
        return self._held.setdefault(name, set())

    def _project(self, name: str, projection: Projection, todo: list[Item]) -> None:
        held = self._held_for(name)
        if not held and not any(isinstance(event, Undecodable) for *_, event in todo):
            try:
                with self.db.transaction() as cur:
                    for _, _, _, event in todo:
                        projection.handle(event, cur)
                    self._track(cur, name, todo[-1][0])
            except Exception as error:
                if kind_of(error) == OUTAGE:
                    raise
            else:
                self._recovered(name)
                return
        for item in todo:  # one by one, each with its tracking: the bad one found, the others applied
            if not self._project_one(name, projection, item, held):
                return
        self._recovered(name)

    def _project_one(self, name: str, projection: Projection, item: Item, held: set[str]) -> bool:
        """Apply (or park) one event; False when the projection must stop here for now."""
        position, eid, aggregate, event = item
        consumer = self.consumer(name)
        if aggregate in held:
            with self.db.transaction() as cur:
                self.parking.park(cur, consumer, eid, position, aggregate, HELD)
                self._track(cur, name, position)
            return True
        try:
            with self.db.transaction() as cur:
                if isinstance(event, Undecodable):
                    raise event.error
                projection.handle(event, cur)
                self._track(cur, name, position)
            return True
        except Exception as error:
            kind = kind_of(error)
            if kind == OUTAGE:
                raise
            reason = describe(error)
            metrics.CONSUMER_FAILURES.labels(consumer).inc()
            attempts = self.parking.failed(consumer, eid, position, aggregate, reason)
            if kind == SYSTEMIC or attempts < PARK_AFTER:
                _, delay = self._backoff.get(name, (0.0, 0.1))
                self._backoff[name] = (time.monotonic() + delay, min(delay * 2, 10.0))
                log.warning("projection %s failed on event %s (try %d): %s", name, eid, attempts, reason)
                return False
            with self.db.transaction() as cur:
                self.parking.park(cur, consumer, eid, position, aggregate, reason)
                self._track(cur, name, position)
            held.add(aggregate)
            log.error("projection %s parked event %s after %d tries: %s", name, eid, attempts, reason)
            return True

    def _recovered(self, name: str) -> None:
        if self._backoff.pop(name, None) is not None:
            self.parking.clear_failing(self.consumer(name))

    def _tell_listeners(self, items: list[Item]) -> None:
        for position, _, _, event in items:
            if position <= self._heard or isinstance(event, Undecodable):
                continue
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("a listener failed on %s", type(event).__qualname__)
        self._heard = max(self._heard, items[-1][0])

    def retry_parked(self, limit: int = 100) -> int:
        """Try the parked events again, aggregate by aggregate in event order; answers how many were applied."""
        applied = 0
        for name, projection in self.projections.items():
            consumer = self.consumer(name)
            rows = self.parking.parked(consumer)[:limit]
            by_aggregate: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                by_aggregate.setdefault(row["aggregate_id"], []).append(row)
            for aggregate, parked in by_aggregate.items():
                try:
                    with self.db.transaction() as cur:
                        for row in parked:
                            notifications = self.recorder.select_notifications(int(row["position"]), 1)
                            event = self.mapper.to_domain_event(notifications[0])
                            projection.handle(event, cur)
                        self.parking.clear(cur, consumer, [row["event_id"] for row in parked])
                except Exception as error:
                    if kind_of(error) == OUTAGE:
                        raise
                    continue
                self._held_for(name).discard(aggregate)
                applied += len(parked)
                log.warning("projection %s applied %d parked event(s) of %s", name, len(parked), aggregate)
        return applied

    def catch_up(self) -> None:
        while self.run_once() == self.batch_size:
            pass

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has reached ``position`` (read-your-writes), at most ``timeout``. A projection
        stuck on an event (``failing``) is not waited for: the others answer."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        skipped: set[str] | None = None
        while True:
            positions = self.positions()
            if skipped:
                positions = {n: p for n, p in positions.items() if n not in skipped}
            if min(positions.values(), default=position) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            if skipped is None and delay >= 0.032:  # not there after ~60 ms: is one of them stuck?
                skipped = self.failing()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def rebuild(self, name: str) -> None:
        projection = self.projections[name]
        with self._lock:
            with self.db.transaction() as cur:
                for table in projection.tables:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute("DELETE FROM consumer_faults WHERE consumer = %s", (self.consumer(name),))
            others = {n: p for n, p in self.projections.items() if n != name}
            self.projections = {name: projection}
            self._held = None
            create_tables(self.db, [projection])
            self.db.execute("UPDATE projection_tracking SET position = 0 WHERE name = %s", (name,))
        try:
            self.catch_up()
        finally:
            self.projections = {**others, name: projection}
            self._held = None

    async def run_forever(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        async def step() -> int:
            return await loop.run_in_executor(None, self.run_once)

        await follow(step, wake, batch_size=self.batch_size)

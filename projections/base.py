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

from infra.follow import follow
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


class Projector:
    """Runs projections over the event store's notification log. ``recorder`` and ``mapper`` are the event store's
    (an eventsourcing application's): the projector reads them, never writes."""

    def __init__(
        self, recorder: Any, mapper: Any, db: SqlDatabase, projections: Sequence[Projection], batch_size: int = 500
    ) -> None:
        self.recorder, self.mapper = recorder, mapper
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Any], None]] = []  # called with each new event after commit

    def positions(self) -> dict[str, int]:
        rows = self.db.query("SELECT name, position FROM projection_tracking")
        return {r["name"]: int(r["position"]) for r in rows if r["name"] in self.projections}

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def lag(self) -> int:
        positions = self.positions()
        return max(0, self.head() - min(positions.values(), default=0))

    def run_once(self) -> int:
        """Apply one batch; answers how many notifications were read."""
        with self._lock:
            positions = self.positions()
            start = min(positions.values(), default=0)
            notifications = self.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
            if not notifications:
                return 0
            events = [(n.id, self.mapper.to_domain_event(n)) for n in notifications]
            last = notifications[-1].id
            with self.db.transaction() as cur:
                for name, projection in self.projections.items():
                    for notification_id, event in events:
                        if notification_id > positions.get(name, 0):
                            projection.handle(event, cur)
                    cur.execute(
                        "UPDATE projection_tracking SET position = %s WHERE name = %s AND position < %s",
                        (last, name, last),
                    )
            for _, event in events:
                for listener in self.listeners:
                    listener(event)
            return len(notifications)

    def catch_up(self) -> None:
        while self.run_once() == self.batch_size:
            pass

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has reached ``position`` (read-your-writes), at most ``timeout``."""
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
            create_tables(self.db, [projection])
            self.db.execute("UPDATE projection_tracking SET position = 0 WHERE name = %s", (name,))
        try:
            self.catch_up()
        finally:
            self.projections = {**others, name: projection}

    async def run_forever(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        async def step() -> int:
            return await loop.run_in_executor(None, self.run_once)

        await follow(step, wake, batch_size=self.batch_size)

"""How a process hears of the events its in-memory state depends on: cached keys and credentials (any ``User``
event), the catalogue (``CatalogModel`` events).

Handlers are registered by event class, or by aggregate class for every event of it. Where the projector runs in
this process, it calls them with each event it applies (``listener``); elsewhere (API and worker processes) the
relayed events on the bus feed them (``subscribe``). Either way they are found by class, never by name: a renamed
event class fails at import.

Both are fast, and neither is a guarantee: the relay may be stuck, NATS may be reconnecting (a core subscription
misses what was published meanwhile), the projector may be behind. So every API and worker process also reads the
events that guard access (``User``'s) from the event store itself, twice a second (``follow_store``: one indexed
query when nothing happened): a disabled user or a revoked key is refused by every process within a second, whatever
the bus and the projector do. Handlers are idempotent (evict, register), so hearing an event twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic

from infra.bus.base import Bus, Subscription
from infra.bus.messages import RelayedEvent, event_data, events_subject
from infra.threads import Threads

log = logging.getLogger(__name__)
#: How often ``follow_store`` reads the event store: a cached key outlives its revocation by at most about this.
STORE_POLL_S = 0.5

DataHandler = Callable[[dict[str, Any]], None]
IdHandler = Callable[[str], None]


class EventFeed:
    def __init__(self) -> None:
        self._by_event: dict[type, list[DataHandler]] = {}
        self._by_aggregate: dict[type[Aggregate], list[IdHandler]] = {}

    def on(self, event_class: type, handler: DataHandler) -> None:
        """``handler(data)`` with the fields of each event of ``event_class``."""
        self._by_event.setdefault(event_class, []).append(handler)

    def on_aggregate(self, aggregate_class: type[Aggregate], handler: IdHandler) -> None:
        """``handler(aggregate_id)`` for every event of ``aggregate_class``."""
        self._by_aggregate.setdefault(aggregate_class, []).append(handler)

    def listener(self, event: Any) -> None:
        """For the projector of this process: called with each event it applied."""
        for handler in self._by_event.get(type(event), ()):
            handler(event_data(event))
        for aggregate_class, id_handlers in self._by_aggregate.items():
            if isinstance(event, aggregate_class.Event):
                for on_id in id_handlers:
                    on_id(str(event.originator_id))

    async def subscribe(self, bus: Bus) -> list[Subscription]:
        """For a process without the projector: the same handlers, fed by the relayed events on the bus."""
        subscriptions = []
        for event_class, data_handlers in self._by_event.items():

            async def on_event(subject: str, data: bytes, handlers: list[DataHandler] = data_handlers) -> None:
                relayed = RelayedEvent.decode(data)
                for handler in handlers:
                    handler(relayed.data)

            subscriptions.append(await bus.subscribe(events_subject(event_class.__qualname__), on_event))
        for aggregate_class, id_handlers in self._by_aggregate.items():

            async def on_any(subject: str, data: bytes, handlers: list[IdHandler] = id_handlers) -> None:
                relayed = RelayedEvent.decode(data)
                for handler in handlers:
                    handler(relayed.aggregate_id)

            subscriptions.append(await bus.subscribe(events_subject(f"{aggregate_class.__qualname__}.>"), on_any))
        return subscriptions

    @staticmethod
    def topics(aggregates: tuple[type[Aggregate], ...]) -> list[str]:
        """The stored topics of every event of ``aggregates``."""
        classes = {
            value
            for aggregate_class in aggregates
            for value in vars(aggregate_class).values()
            if isinstance(value, type) and issubclass(value, DomainEvent)
        }
        return sorted(get_topic(cls) for cls in classes)

    async def follow_store(
        self,
        recorder: Any,
        mapper: Any,
        threads: Threads,
        aggregates: tuple[type[Aggregate], ...],
        every_s: float = STORE_POLL_S,
    ) -> None:
        """Feed the handlers the events of ``aggregates`` (those that guard access: ``User``) from the event
        store's log (see the module's docstring); run it as a task."""
        topics = self.topics(aggregates)
        position: int | None = None  # from the head when this process starts: it loaded what came before
        while True:
            try:
                head = await self._head(recorder, threads)
                if position is None:
                    position = head
                while head > position:
                    found = await threads.run(
                        recorder.select_notifications, position, 500, head, topics, inclusive_of_start=False
                    )
                    for notification in found:
                        self.listener(mapper.to_domain_event(notification))
                    position = found[-1].id if len(found) == 500 else head
            except Exception:
                log.warning("reading the event store for cache updates failed; trying again", exc_info=True)
            await asyncio.sleep(every_s)

    @staticmethod
    async def _head(recorder: Any, threads: Threads) -> int:
        return int(await threads.run(recorder.max_notification_id) or 0)

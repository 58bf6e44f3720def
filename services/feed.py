"""How a process hears of the events its in-memory state depends on: cached keys and credentials (any ``User``
event), the catalogue (``CatalogModel`` events).

Handlers are registered by event class, or by aggregate class for every event of it. Where the projector runs in
this process, it calls them with each event it applies (``listener``); elsewhere (API and worker processes) the
relayed events on the bus feed them (``subscribe``). Either way they are found by class, never by name: a renamed
event class fails at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import Aggregate

from infra.bus.base import Bus, Subscription
from infra.bus.messages import RelayedEvent, event_data, events_subject

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

"""The ``ChatSession`` aggregate: a conversation whose messages are sent as context to later generations."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound


class ChatSession(Aggregate):
    class Started(Aggregate.Created):
        owner_id: str
        title: str
        model: str | None

    class MessageAppended(Aggregate.Event):
        role: str
        content: str
        generation_id: str | None

    class Renamed(Aggregate.Event):
        title: str

    class Deleted(Aggregate.Event):
        pass

    @event(Started)
    def __init__(self, owner_id: str, title: str, model: str | None) -> None:
        self.owner_id = owner_id
        self.title = title
        self.model = model
        self.deleted = False
        self.messages: list[dict[str, Any]] = []

    def check_usable(self) -> None:
        if self.deleted:
            raise NotFound(f"Session {self.id} was deleted.")

    @event(MessageAppended)
    def append_message(self, role: str, content: str, generation_id: str | None) -> None:
        self.messages.append({"role": role, "content": content, "generation_id": generation_id})

    @event(Renamed)
    def rename(self, title: str) -> None:
        self.title = title

    @event(Deleted)
    def delete(self) -> None:
        self.deleted = True

    @property
    def session_id(self) -> UUID:
        return self.id

"""The ``ChatSession`` aggregate: a conversation whose messages are sent as context to later generations."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound


class ChatSession(Aggregate):
    @event("Started")
    def __init__(self, owner_id: str, title: str, model: str | None) -> None:
        self.owner_id = owner_id
        self.title = title
        self.model = model
        self.deleted = False
        self.messages: list[dict] = []

    def check_usable(self) -> None:
        if self.deleted:
            raise NotFound(f"Session {self.id} was deleted.")

    @event("MessageAppended")
    def append_message(self, role: str, content: str, generation_id: str | None) -> None:
        self.messages.append({"role": role, "content": content, "generation_id": generation_id})

    @event("Renamed")
    def rename(self, title: str) -> None:
        self.title = title

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True

    @property
    def session_id(self) -> UUID:
        return self.id

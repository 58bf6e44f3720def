"""The write side: one method per command. Each loads, makes one domain call and saves."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.generations import RUNNING, Generation
from domain.sessions import ChatSession
from domain.users import User
from infra.passwords import ApiKeys, Passwords

T = TypeVar("T")


def retry_on_conflict(method: Callable[..., T]) -> Callable[..., T]:
    """Concurrent writers to one aggregate: reload and try again (optimistic concurrency)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(5):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    return wrapper


def as_uuid(value: str | UUID, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"No {what} {value!r}.") from None


class Gateway(Application[UUID]):
    """The application service of the gateway: users, keys, sessions and generations."""

    name = "pluggably"

    def __init__(self, env: dict[str, str], *, passwords: Passwords, api_keys: ApiKeys) -> None:
        super().__init__(env=env)
        self.passwords = passwords
        self.api_keys = api_keys
        self.after_save: Callable[[], None] | None = None  # wakes this process's projector and relay

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        if self.after_save is not None:
            self.after_save()
        return recordings

    # Loading.
    def _get(self, cls: type[T], aggregate_id: str | UUID, what: str) -> T:
        try:
            aggregate = self.repository.get(as_uuid(aggregate_id, what))
        except AggregateNotFoundError:
            raise NotFound(f"No {what} {aggregate_id}.") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"No {what} {aggregate_id}.")
        return aggregate

    def get_user(self, user_id: str | UUID) -> User:
        return self._get(User, user_id, "user")

    def get_session(self, session_id: str | UUID, owner_id: str | None = None) -> ChatSession:
        session = self._get(ChatSession, session_id, "session")
        if session.deleted or (owner_id is not None and session.owner_id != owner_id):
            raise NotFound(f"No session {session_id}.")
        return session

    def get_generation(self, generation_id: str | UUID, owner_id: str | None = None) -> Generation:
        generation = self._get(Generation, generation_id, "generation")
        if owner_id is not None and generation.owner_id != owner_id:
            raise NotFound(f"No generation {generation_id}.")
        return generation

    # Users and keys.
    def register_user(self, username: str, password: str, is_admin: bool = False) -> User:
        if User.create_id(username) in self.repository:
            raise Conflict(f"The username {username!r} is taken.", param="username")
        user = User(username=username, password_hash=self.passwords.hash(password), is_admin=is_admin)
        self.save(user)
        return user

    @retry_on_conflict
    def issue_api_key(self, user_id: str | UUID, name: str = "default", scopes: list[str] | None = None,
                      expires_at: datetime | None = None) -> tuple[str, str]:
        user = self.get_user(user_id)
        key_id, plaintext = self.api_keys.new()
        user.issue_api_key(key_id, name, self.api_keys.hash(plaintext), scopes or ["*"], expires_at)
        self.save(user)
        return key_id, plaintext

    @retry_on_conflict
    def revoke_api_key(self, user_id: str | UUID, key_id: str) -> None:
        user = self.get_user(user_id)
        user.revoke_api_key(key_id)
        self.save(user)

    @retry_on_conflict
    def set_provider_credential(self, user_id: str | UUID, provider: str, ciphertext: str, last4: str,
                                endpoint: str | None, api_version: str | None) -> None:
        user = self.get_user(user_id)
        user.set_provider_credential(provider, ciphertext, last4, endpoint, api_version)
        self.save(user)

    @retry_on_conflict
    def remove_provider_credential(self, user_id: str | UUID, provider: str) -> None:
        user = self.get_user(user_id)
        user.remove_provider_credential(provider)
        self.save(user)

    # Sessions.
    def create_session(self, owner_id: str, title: str | None, model: str | None) -> ChatSession:
        session = ChatSession(owner_id=owner_id, title=title or "New chat", model=model)
        self.save(session)
        return session

    @retry_on_conflict
    def rename_session(self, owner_id: str, session_id: str, title: str) -> ChatSession:
        session = self.get_session(session_id, owner_id)
        session.rename(title)
        self.save(session)
        return session

    @retry_on_conflict
    def delete_session(self, owner_id: str, session_id: str) -> None:
        session = self.get_session(session_id, owner_id)
        session.delete()
        self.save(session)

    # Generations.
    @retry_on_conflict
    def request_generation(self, *, owner_id: str, key_id: str | None, session_id: str | None, modality: str,
                           targets: list[dict[str, str]], messages: list[dict[str, str]],
                           parameters: dict[str, Any], stream: bool) -> Generation:
        """Record the request; in a session the user's message is appended in the same atomic save."""
        if not messages:
            raise InvalidRequest("Give input.prompt or input.messages.", param="input")
        session = None
        context: list[dict[str, str]] = []
        if session_id is not None:
            session = self.get_session(session_id, owner_id)
            context = [{"role": m["role"], "content": m["content"]} for m in session.messages]
        generation = Generation(owner_id=owner_id, key_id=key_id, session_id=session_id, modality=modality,
                                targets=targets, messages=context + messages, parameters=parameters,
                                stream=stream)
        if session is not None:
            for message in messages:
                session.append_message(message["role"], message["content"], str(generation.id))
        self.save(generation, session)
        return generation

    @retry_on_conflict
    def start_generation(self, generation_id: str, worker: str, take_over: bool = False) -> Generation | None:
        """Mark the generation started; ``None`` when there is nothing to do: it finished already, or it runs
        elsewhere and this is not a redelivery (``take_over``) of work whose worker died."""
        generation = self.get_generation(generation_id)
        if generation.is_terminal or (generation.status == RUNNING and not take_over):
            return None
        generation.start(worker)
        self.save(generation)
        return generation

    @retry_on_conflict
    def complete_generation(self, generation_id: str, **result: Any) -> Generation | None:
        generation = self.get_generation(generation_id)
        if generation.is_terminal:
            return None
        generation.complete(**result)
        session = None
        if generation.session_id is not None and generation.modality == "text":
            session = self.get_session(generation.session_id)
            session.append_message("assistant", result["output"].get("text", ""), str(generation.id))
        self.save(generation, session)
        return generation

    @retry_on_conflict
    def fail_generation(self, generation_id: str, **failure: Any) -> Generation | None:
        generation = self.get_generation(generation_id)
        if generation.is_terminal:
            return None
        generation.fail(**failure)
        self.save(generation)
        return generation

    @retry_on_conflict
    def cancel_generation(self, generation_id: str, owner_id: str | None = None) -> Generation:
        generation = self.get_generation(generation_id, owner_id)
        if generation.cancel():
            self.save(generation)
        return generation

    # The audit trail, straight from the event store.
    def stored_events(self, aggregate_id: str | UUID, as_of: datetime | None = None) -> list[Any]:
        events = list(self.events.get(as_uuid(aggregate_id, "aggregate")))
        if as_of is not None:
            events = [e for e in events if e.timestamp <= as_of]
        return events

    def session_as_of(self, owner_id: str, session_id: str, as_of: datetime) -> ChatSession:
        session = self.get_session(session_id, owner_id)
        events = self.stored_events(session_id, as_of)
        if not events:
            raise NotFound(f"Session {session_id} did not exist at {as_of.isoformat()}.")
        return self.repository.get(session.id, version=events[-1].originator_version)

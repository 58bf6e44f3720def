"""Authentication by API key, served from memory; the keys read model answers misses.

The cache is kept current from the event stream: any ``User`` event evicts that user's cached keys
(revocation, disabling). A miss reads the keys read model once that projection has caught up with the event
store (waiting, bounded); if it is still behind (a slow or stopped projector), the events it has not applied are
searched, so a key issued a moment ago by the CLI works at once in any case.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.utils import get_topic

from domain.errors import AuthenticationFailed, PermissionDenied
from domain.users import User
from infra.passwords import ApiKeys
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.base import Projector
from projections.keys import KeysProjection, find_key
from services.freshness import Freshness

KEYS_VIEW = KeysProjection.name


def invalid() -> AuthenticationFailed:
    return AuthenticationFailed("Invalid API key: send a valid key in the X-API-Key header.")


@dataclass(frozen=True)
class Principal:
    """Who calls: the user and the key they authenticated with."""

    user_id: str
    key_id: str
    username: str
    is_admin: bool
    expires_at: datetime | None

    def require_admin(self, message: str = "This needs an admin's API key.") -> None:
        if not self.is_admin:
            raise PermissionDenied(message)

    @property
    def viewer(self) -> str | None:
        """Whose items a read is scoped to: ``None`` (all) for an admin."""
        return None if self.is_admin else self.user_id


class Authenticator:
    """``recorder``/``mapper`` read the event store's log (the events the keys view has not applied yet), and
    ``load_user`` loads a ``User`` aggregate; nothing here writes."""

    def __init__(
        self,
        db: SqlDatabase,
        api_keys: ApiKeys,
        projector: Projector,
        freshness: Freshness,
        recorder: Any,
        mapper: Any,
        load_user: Callable[[str], User],
        threads: Threads,
    ) -> None:
        self.db, self.api_keys, self.projector, self.freshness = db, api_keys, projector, freshness
        self.recorder, self.mapper, self.load_user, self.threads = recorder, mapper, load_user, threads
        self._cache: dict[str, Principal] = {}
        self._lock = threading.Lock()
        self._evictions = 0  # counts evictions: a load that raced one does not cache what it read

    async def authenticate(self, plaintext: str) -> Principal:
        """The principal of an API key: from memory, or (a miss) from the keys view in a thread."""
        key_hash, found = self.cached(plaintext)
        if found is None:
            found = await self.threads.run(self.load, key_hash)
        return self.check(found)

    def cached(self, plaintext: str) -> tuple[str, Principal | None]:
        key_hash = self.api_keys.hash(plaintext)
        return key_hash, self._cache.get(key_hash)

    def check(self, principal: Principal) -> Principal:
        if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
            raise AuthenticationFailed("This API key has expired.")
        return principal

    def load(self, key_hash: str) -> Principal:
        """The slow path (run in a thread): the keys read model, or the event store when the view lags."""
        while True:
            evictions = self._evictions
            principal = self._read(key_hash)
            with self._lock:
                if evictions == self._evictions:  # no revocation or disabling arrived while it was read
                    self._cache[key_hash] = principal
                    return principal

    def _read(self, key_hash: str) -> Principal:
        # The keys view answers once it has caught up with the event store: a key issued a moment ago is found, and
        # a revocation that evicted this key from the cache is applied. When it is behind (a slow or stopped
        # projector), the user's events are the record: nothing waits for the projector.
        caught_up = self.projector.positions().get(KEYS_VIEW, 0) >= self.projector.head()
        row = find_key(self.db, key_hash)
        if row is not None and not caught_up:
            return self._from_user(row["user_id"], row["key_id"])
        if row is not None:
            if row["revoked"] or row["disabled"]:
                raise invalid()
            expires = datetime.fromisoformat(row["expires_at"]) if row["expires_at"] else None
            return Principal(row["user_id"], row["key_id"], row["username"], bool(row["is_admin"]), expires)
        if caught_up:
            raise invalid()
        return self._from_unprojected_events(key_hash)

    def _from_user(self, user_id: str, key_id: str) -> Principal:
        """The principal of one of the user's keys, from the ``User`` aggregate (the event store)."""
        user = self.load_user(user_id)
        key = user.api_keys.get(key_id)
        if key is None or key["revoked"] or user.disabled:
            raise invalid()
        return Principal(str(user.id), key_id, user.username, user.is_admin, key["expires_at"])

    def _from_unprojected_events(self, key_hash: str) -> Principal:
        start = min(self.projector.positions().values(), default=0)
        topics = [get_topic(User.ApiKeyIssued)]
        while notifications := self.recorder.select_notifications(start, 500, topics=topics, inclusive_of_start=False):
            for notification in notifications:
                event = self.mapper.to_domain_event(notification)
                if event.key_hash == key_hash:
                    return self._from_user(str(event.originator_id), event.key_id)
            start = notifications[-1].id
        raise invalid()

    def evict_user(self, user_id: str) -> None:
        with self._lock:
            self._evictions += 1
            for key_hash in [h for h, p in self._cache.items() if p.user_id == user_id]:
                del self._cache[key_hash]

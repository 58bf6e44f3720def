"""The ``User`` aggregate: an account, its API keys and its saved provider credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, NotFound, PermissionDenied


class User(Aggregate):
    """A person or service using the gateway. The id derives from the username, so names are unique.

    Which providers a credential may be saved for is the runtimes' business (an installed runtime that needs
    one), checked before the command is given; the aggregate keeps whatever it is told."""

    class Registered(Aggregate.Created):
        username: str
        password_hash: str
        is_admin: bool

    class PasswordChanged(Aggregate.Event):
        password_hash: str

    class Disabled(Aggregate.Event):
        pass

    class ApiKeyIssued(Aggregate.Event):
        key_id: str
        name: str
        key_hash: str
        scopes: list[str]
        expires_at: datetime | None

    class ApiKeyRevoked(Aggregate.Event):
        key_id: str

    class ProviderCredentialSet(Aggregate.Event):
        provider: str
        ciphertext: str
        last4: str
        endpoint: str | None
        api_version: str | None

    class ProviderCredentialRemoved(Aggregate.Event):
        provider: str

    @staticmethod
    def create_id(username: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"pluggably:user:{username.lower()}")

    @event(Registered)
    def __init__(self, username: str, password_hash: str, is_admin: bool) -> None:
        self.username = username
        self.password_hash = password_hash
        self.is_admin = is_admin
        self.disabled = False
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, Any]] = {}

    @event(PasswordChanged)
    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    @event(Disabled)
    def disable(self) -> None:
        self.disabled = True

    def issue_api_key(
        self, key_id: str, name: str, key_hash: str, scopes: list[str], expires_at: datetime | None
    ) -> None:
        if self.disabled:
            raise PermissionDenied("This user is disabled and cannot get new API keys.")
        if key_id in self.api_keys:
            raise Conflict(f"API key {key_id} exists already.")
        self._api_key_issued(key_id=key_id, name=name, key_hash=key_hash, scopes=scopes, expires_at=expires_at)

    @event(ApiKeyIssued)
    def _api_key_issued(
        self, key_id: str, name: str, key_hash: str, scopes: list[str], expires_at: datetime | None
    ) -> None:
        self.api_keys[key_id] = {
            "name": name,
            "key_hash": key_hash,
            "scopes": scopes,
            "expires_at": expires_at,
            "revoked": False,
        }

    def revoke_api_key(self, key_id: str) -> None:
        key = self.api_keys.get(key_id)
        if key is None:
            raise NotFound(f"No API key {key_id}.")
        if not key["revoked"]:
            self._api_key_revoked(key_id=key_id)

    @event(ApiKeyRevoked)
    def _api_key_revoked(self, key_id: str) -> None:
        self.api_keys[key_id]["revoked"] = True

    def set_provider_credential(
        self, provider: str, ciphertext: str, last4: str, endpoint: str | None, api_version: str | None
    ) -> None:
        self._provider_credential_set(
            provider=provider, ciphertext=ciphertext, last4=last4, endpoint=endpoint, api_version=api_version
        )

    @event(ProviderCredentialSet)
    def _provider_credential_set(
        self, provider: str, ciphertext: str, last4: str, endpoint: str | None, api_version: str | None
    ) -> None:
        self.credentials[provider] = {
            "ciphertext": ciphertext,
            "last4": last4,
            "endpoint": endpoint,
            "api_version": api_version,
        }

    def remove_provider_credential(self, provider: str) -> None:
        if provider not in self.credentials:
            raise NotFound(f"No saved credential for {provider!r}.")
        self._provider_credential_removed(provider=provider)

    @event(ProviderCredentialRemoved)
    def _provider_credential_removed(self, provider: str) -> None:
        del self.credentials[provider]

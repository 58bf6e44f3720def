"""Users' own provider credentials: saved encrypted (``PUT /v1/me/credentials/{provider}``), listed by their last
four characters, removed, crypto-shredded; and read back, decrypted and cached, for the calls that use them.

A provider here is any installed runtime that needs a credential, ours or a plugin's: what a credential for it
may carry is the runtime's to say (``Runtime.check_credential``).
"""

from __future__ import annotations

import threading
from typing import Any

from commands.service import Gateway
from domain.errors import NotFound
from infra.crypto import CredentialUnreadable, CredentialVault
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.keys import list_credentials
from runtimes.base import Credential
from runtimes.registry import RuntimeRegistry
from services.auth import Principal
from services.freshness import Freshness


class UserCredentials:
    """The user's own saved credential, decrypted; None when there is none or it was crypto-shredded.

    Answers are cached in memory (no database read per request); any event of the user evicts them
    (``forget``), and so do the use cases that change them."""

    def __init__(self, app: Gateway, vault: CredentialVault) -> None:
        self.app, self.vault = app, vault
        self._cache: dict[tuple[str, str], Credential | None] = {}
        self._lock = threading.Lock()
        self._forgotten = 0  # counts evictions: a load that raced one does not cache what it read

    def __call__(self, user_id: str, provider: str) -> Credential | None:
        key = (user_id, provider)
        try:
            return self._cache[key]
        except KeyError:
            while True:
                forgotten = self._forgotten
                credential = self._load(user_id, provider)
                with self._lock:
                    if forgotten == self._forgotten:
                        self._cache[key] = credential
                        return credential

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._forgotten += 1
            for key in [k for k in self._cache if k[0] == user_id]:
                self._cache.pop(key, None)

    def _load(self, user_id: str, provider: str) -> Credential | None:
        try:
            saved = self.app.get_user(user_id).credentials.get(provider)
        except NotFound:
            return None
        if saved is None:
            return None
        try:
            api_key = self.vault.decrypt(user_id, saved["ciphertext"])
        except CredentialUnreadable:
            return None
        return Credential(api_key=api_key, source="user", endpoint=saved["endpoint"], api_version=saved["api_version"])


class Credentials:
    def __init__(
        self,
        app: Gateway,
        db: SqlDatabase,
        vault: CredentialVault,
        registry: RuntimeRegistry,
        cache: UserCredentials,
        threads: Threads,
        freshness: Freshness,
    ) -> None:
        self.app, self.db, self.vault, self.registry = app, db, vault, registry
        self.cache, self.threads, self.freshness = cache, threads, freshness

    def _provider(self, provider: str) -> Any:
        known = self.registry.credentialed()
        if provider not in known:
            raise NotFound(f"Unknown provider {provider!r}; expected one of {', '.join(known)}.", param="provider")
        return self.registry.get(provider)

    async def save(
        self, who: Principal, provider: str, api_key: str, endpoint: str | None, api_version: str | None
    ) -> dict[str, Any]:
        self._provider(provider).check_credential(endpoint, api_version)
        ciphertext = await self.threads.run(self.vault.encrypt, who.user_id, api_key)
        await self.threads.run(
            self.app.set_provider_credential, who.user_id, provider, ciphertext, api_key[-4:], endpoint, api_version
        )
        self.cache.forget(who.user_id)
        return {"provider": provider, "last4": api_key[-4:], "endpoint": endpoint, "api_version": api_version}

    async def listing(self, who: Principal) -> list[dict[str, Any]]:
        await self.freshness.wait()
        return await self.threads.run(list_credentials, self.db, who.user_id)

    async def remove(self, who: Principal, provider: str) -> None:
        self._provider(provider)
        await self.threads.run(self.app.remove_provider_credential, who.user_id, provider)
        self.cache.forget(who.user_id)

    async def shred(self, who: Principal, user_id: str) -> None:
        """Crypto-shredding: erase the user's data key; their stored credentials become unreadable for good."""
        who.require_admin()
        user = await self.threads.run(self.app.get_user, user_id)
        await self.threads.run(self.vault.shred, user_id)
        for provider in list(user.credentials):  # unreadable now: take them off the user's list too
            await self.threads.run(self.app.remove_provider_credential, user_id, provider)
        self.cache.forget(user_id)

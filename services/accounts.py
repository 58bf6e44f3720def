"""Accounts: the caller's API keys, usage and artifacts; admins' user management."""

from __future__ import annotations

import json
from typing import Any

from commands.service import Gateway
from domain.errors import InvalidRequest, NotFound
from domain.users import User
from infra.artifacts import Artifact, ArtifactStore
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.keys import list_keys, list_users
from projections.usage import usage_for
from services.auth import Authenticator, Principal
from services.freshness import Freshness


class Accounts:
    def __init__(
        self,
        app: Gateway,
        db: SqlDatabase,
        auth: Authenticator,
        artifacts: ArtifactStore,
        threads: Threads,
        freshness: Freshness,
    ) -> None:
        self.app, self.db, self.auth, self.artifacts = app, db, auth, artifacts
        self.threads, self.freshness = threads, freshness

    # -- the caller's keys and usage ---------------------------------------------------------------------------

    async def keys(self, who: Principal) -> list[dict[str, Any]]:
        await self.freshness.wait()
        rows = await self.threads.run(list_keys, self.db, who.user_id)
        return [{**r, "scopes": json.loads(r["scopes"]), "revoked": bool(r["revoked"])} for r in rows]

    async def issue_key(self, who: Principal, name: str) -> tuple[str, str]:
        """A new key: ``(key id, plaintext)``, the plaintext shown once."""
        return await self.threads.run(self.app.issue_api_key, who.user_id, name)

    async def revoke_key(self, who: Principal, key_id: str) -> None:
        await self.threads.run(self.app.revoke_api_key, who.user_id, key_id)
        await self.freshness.wait()  # the keys read model shows the revocation before the cache forgets the key
        self.auth.evict_user(who.user_id)

    async def usage(self, who: Principal, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """Per day, provider and model; ``start`` and ``end`` (``YYYY-MM-DD``, both included) bound the days."""
        if start and end and start > end:
            raise InvalidRequest("from is after to.", param="from")
        return await self.threads.run(usage_for, self.db, who.user_id, start, end)

    def artifact(self, who: Principal, artifact_id: str) -> Artifact:
        """An artifact (an image, a mesh) of the caller's; another user's is not found."""
        found = self.artifacts.get(artifact_id)
        if found is None or found.owner_id != who.user_id or not found.path.is_file():
            raise NotFound(f"No artifact {artifact_id}.")
        return found

    async def artifact_bytes(self, who: Principal, artifact_id: str) -> bytes | None:
        """The bytes of the caller's artifact; None when it is not theirs or is gone."""
        try:
            found = self.artifact(who, artifact_id)
        except NotFound:
            return None
        return await self.threads.run(found.path.read_bytes)

    # -- admins ------------------------------------------------------------------------------------------------

    async def create_user(self, who: Principal, username: str, password: str, admin: bool) -> tuple[User, str, str]:
        """A new user and their first key: ``(user, key id, plaintext)``."""
        who.require_admin()
        return await self.threads.run(self.app.register_user, username, password, admin)

    async def disable_user(self, who: Principal, user_id: str) -> User:
        """Lock a user out (a team member who left): their keys stop working on every process; their history
        stays."""
        who.require_admin()
        user = await self.threads.run(self.app.disable_user, user_id, who.user_id)
        await self.freshness.wait()  # the keys read model shows the user disabled before the cache forgets their keys
        self.auth.evict_user(user_id)
        return user

    async def users(self, who: Principal) -> list[dict[str, Any]]:
        who.require_admin()
        await self.freshness.wait()  # read-your-writes: a user just created or disabled is listed as such
        rows = await self.threads.run(list_users, self.db)
        return [{**r, "is_admin": bool(r["is_admin"]), "disabled": bool(r["disabled"])} for r in rows]

"""Signing in with a password: a short-lived API key for the web app; signing out revokes the key in use."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from commands.service import Gateway
from domain.errors import AuthenticationFailed, NotFound, PermissionDenied, RateLimited
from domain.users import User
from infra.login_throttle import LoginThrottle
from infra.passwords import Passwords
from infra.threads import Threads
from services.auth import Authenticator, Principal
from services.freshness import Freshness

SESSION_KEY_NAME = "web session"


@dataclass(frozen=True)
class SignedIn:
    user: User
    key_id: str
    api_key: str
    expires_at: datetime


class SignIn:
    """The sign-in use case. An unknown username and a wrong password get the same answer (and take as long: the
    password is checked against a dummy hash); failures are counted per username, whether it exists or not."""

    def __init__(
        self,
        app: Gateway,
        passwords: Passwords,
        throttle: LoginThrottle,
        ttl_s: float,
        auth: Authenticator,
        threads: Threads,
        freshness: Freshness,
    ) -> None:
        self.app, self.passwords, self.throttle, self.ttl_s = app, passwords, throttle, ttl_s
        self.auth, self.threads, self.freshness = auth, threads, freshness
        self._dummy_hash: str | None = None

    async def login(self, username: str, password: str) -> SignedIn:
        return await self.threads.run(self._login, username, password)

    async def logout(self, who: Principal) -> None:
        """Revoke the key the caller signed in with (any key: signing out with one is revoking it)."""
        await self.threads.run(self.app.revoke_api_key, who.user_id, who.key_id)
        await self.freshness.wait()  # the keys read model shows the revocation before the cache forgets the key
        self.auth.evict_user(who.user_id)

    def _login(self, username: str, password: str) -> SignedIn:
        wait = self.throttle.retry_after(username)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(
                f"Too many failed sign-ins for this username: try again in {seconds} s.",
                retry_after=seconds,
                code="too_many_sign_ins",
            )
        user = self._user(username)
        if not self.passwords.verify(user.password_hash if user else self._dummy(), password) or user is None:
            self.throttle.record_failure(username)
            raise AuthenticationFailed("Wrong username or password.", code="invalid_credentials")
        if user.disabled:
            raise PermissionDenied("This account is disabled: ask an admin.", code="account_disabled")
        self.throttle.clear(username)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.ttl_s)
        key_id, plaintext = self.app.issue_api_key(user.id, SESSION_KEY_NAME, None, expires_at)
        return SignedIn(user, key_id, plaintext, expires_at)

    def _user(self, username: str) -> User | None:
        try:
            return self.app.get_user(User.create_id(username))
        except NotFound:
            return None

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

"""Password hashing (argon2id) and API key material (random keys stored as a keyed hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

KEY_PREFIX = "pk-"


class Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()  # argon2id with the library's recommended parameters

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerificationError:
            return False


class ApiKeys:
    """API keys are random (256 bits), shown once, and stored only as an HMAC-SHA256 under a server secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @staticmethod
    def new() -> tuple[str, str]:
        """A new ``(key_id, plaintext)``."""
        return secrets.token_hex(8), KEY_PREFIX + secrets.token_urlsafe(32)

    def hash(self, plaintext: str) -> str:
        return hmac.new(self._secret, plaintext.encode(), hashlib.sha256).hexdigest()

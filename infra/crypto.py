"""Envelope encryption of users' provider credentials, with crypto-shredding.

Each user has a random 256-bit data key, stored only wrapped (AES-GCM) by the server's master key, in a
:class:`DataKeyStore` that lives outside the immutable event store. A credential is encrypted with the user's data
key (AES-GCM, the user id as associated data) into a token safe to put in an event. Deleting the data key
(:meth:`CredentialVault.shred`) makes every token of that user unreadable for good, while the events stay intact.

Token: ``v1.<urlsafe base64 of nonce(12) || ciphertext+tag>``. Wrapped data key: ``b"\\x01" || nonce || ct+tag``.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_PREFIX = "v1."
WRAP_VERSION = b"\x01"


class CredentialUnreadable(Exception):
    """A stored credential cannot be decrypted: its data key was shredded, or the token is damaged or foreign."""


class MasterKeyError(Exception):
    """The configured master key is not 32 bytes of base64."""


class DataKeyStore(Protocol):
    """Where wrapped per-user data keys live (outside the event store, so they can really be erased).

    ``put`` must keep a key that is already there (insert if absent): the vault re-reads after ``put``, so two
    writers racing for a new user converge on one key.
    """

    def get(self, user_id: str) -> bytes | None: ...

    def put(self, user_id: str, wrapped: bytes) -> None: ...

    def delete(self, user_id: str) -> None: ...


class MemoryDataKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> bytes | None:
        return self._keys.get(user_id)

    def put(self, user_id: str, wrapped: bytes) -> None:
        with self._lock:
            self._keys.setdefault(user_id, wrapped)

    def delete(self, user_id: str) -> None:
        with self._lock:
            self._keys.pop(user_id, None)


def decode_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError("The master key must be 32 random bytes in base64 (LLM_API_MASTER_KEY).") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"The master key must be 32 bytes, not {len(key)} (LLM_API_MASTER_KEY).")
    return key


def load_master_key(settings: Any) -> bytes:
    """``settings.master_key`` (base64), else ``data_dir/master.key``, created once with mode 0600."""
    configured = settings.secret("master_key")
    if configured:
        return decode_master_key(configured)
    path = Path(settings.data_dir) / "master.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return decode_master_key(path.read_text())
    with os.fdopen(fd, "w") as file:
        file.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
    return decode_master_key(path.read_text())


class CredentialVault:
    """Encrypts and decrypts users' provider credentials; ``shred(user_id)`` erases them all at once."""

    def __init__(self, master_key: bytes, store: DataKeyStore) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyError("The master key must be 32 bytes.")
        self._master = AESGCM(master_key)
        self._store = store
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, store: DataKeyStore) -> CredentialVault:
        return cls(load_master_key(settings), store)

    @staticmethod
    def _wrap_aad(user_id: str) -> bytes:
        return b"pluggably/data-key/" + user_id.encode()

    def _unwrap(self, user_id: str, wrapped: bytes) -> bytes:
        if not wrapped.startswith(WRAP_VERSION):
            raise CredentialUnreadable(f"The data key of user {user_id} has an unknown format.")
        nonce, sealed = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
        try:
            return self._master.decrypt(nonce, sealed, self._wrap_aad(user_id))
        except InvalidTag:
            raise CredentialUnreadable(
                f"The data key of user {user_id} does not open with this server's master "
                "key (was LLM_API_MASTER_KEY or master.key changed?)."
            ) from None

    def _data_key(self, user_id: str, *, create: bool) -> bytes | None:
        wrapped = self._store.get(user_id)
        if wrapped is None and create:
            with self._lock:
                wrapped = self._store.get(user_id)
                if wrapped is None:
                    nonce = os.urandom(NONCE_BYTES)
                    sealed = self._master.encrypt(nonce, AESGCM.generate_key(bit_length=256), self._wrap_aad(user_id))
                    self._store.put(user_id, WRAP_VERSION + nonce + sealed)
                    wrapped = self._store.get(user_id)  # another writer may have won: use what is stored
        return None if wrapped is None else self._unwrap(user_id, wrapped)

    def encrypt(self, user_id: str, plaintext: str) -> str:
        key = self._data_key(user_id, create=True)
        assert key is not None
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), user_id.encode())
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, user_id: str, token: str) -> str:
        key = self._data_key(user_id, create=False)
        if key is None:
            raise CredentialUnreadable(
                f"The credentials of user {user_id} were erased (their data key was "
                "shredded); save the credential again."
            )
        if not token.startswith(TOKEN_PREFIX):
            raise CredentialUnreadable("This is not a credential token of this server.")
        try:
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :])
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], user_id.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise CredentialUnreadable(
                f"This credential token does not belong to user {user_id} or is damaged."
            ) from None

    def shred(self, user_id: str) -> None:
        """Erase the user's data key: every credential token of theirs becomes unreadable, for good."""
        self._store.delete(user_id)

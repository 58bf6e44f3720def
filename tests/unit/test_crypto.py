"""Envelope encryption of provider credentials: round trip, isolation between users, crypto-shredding."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from infra.crypto import (
    CredentialUnreadable,
    CredentialVault,
    MasterKeyError,
    MemoryDataKeyStore,
    load_master_key,
)
from infra.settings import Settings

SECRET = "sk-live-very-secret-credential-0123456789"


@pytest.fixture
def store() -> MemoryDataKeyStore:
    return MemoryDataKeyStore()


@pytest.fixture
def vault(store: MemoryDataKeyStore) -> CredentialVault:
    return CredentialVault(os.urandom(32), store)


def test_round_trip(vault: CredentialVault) -> None:
    token = vault.encrypt("alice", SECRET)
    assert isinstance(token, str) and token.isascii()
    assert vault.decrypt("alice", token) == SECRET
    assert vault.encrypt("alice", SECRET) != token  # a fresh nonce every time


def test_ciphertext_does_not_contain_the_plaintext(vault: CredentialVault, store: MemoryDataKeyStore) -> None:
    token = vault.encrypt("alice", SECRET)
    raw = base64.urlsafe_b64decode(token.removeprefix("v1."))
    assert SECRET not in token and SECRET.encode() not in raw
    assert SECRET.encode() not in store.get("alice")


def test_each_user_has_a_data_key_wrapped_by_the_master_key(vault: CredentialVault,
                                                              store: MemoryDataKeyStore) -> None:
    vault.encrypt("alice", SECRET)
    vault.encrypt("bob", SECRET)
    wrapped = store.get("alice")
    assert wrapped is not None and wrapped != store.get("bob")
    assert len(wrapped) == 1 + 12 + 32 + 16  # version, nonce, key, tag: never the bare key


def test_another_users_key_cannot_decrypt(vault: CredentialVault) -> None:
    token = vault.encrypt("alice", SECRET)
    vault.encrypt("bob", "bob's own")
    with pytest.raises(CredentialUnreadable):
        vault.decrypt("bob", token)


def test_after_shred_decrypt_fails_for_good(vault: CredentialVault, store: MemoryDataKeyStore) -> None:
    token = vault.encrypt("alice", SECRET)
    other = vault.encrypt("bob", SECRET)
    vault.shred("alice")
    assert store.get("alice") is None
    with pytest.raises(CredentialUnreadable, match="shredded"):
        vault.decrypt("alice", token)
    vault.encrypt("alice", "new secret")  # a new data key...
    with pytest.raises(CredentialUnreadable):
        vault.decrypt("alice", token)  # ...does not bring the old tokens back
    assert vault.decrypt("bob", other) == SECRET


def test_damaged_token_and_wrong_master_key_fail_clearly(store: MemoryDataKeyStore) -> None:
    vault = CredentialVault(os.urandom(32), store)
    token = vault.encrypt("alice", SECRET)
    with pytest.raises(CredentialUnreadable):
        vault.decrypt("alice", token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with pytest.raises(CredentialUnreadable):
        vault.decrypt("alice", "not a token")
    with pytest.raises(CredentialUnreadable, match="master key"):
        CredentialVault(os.urandom(32), store).decrypt("alice", token)


def test_master_key_from_settings(tmp_path) -> None:
    key = os.urandom(32)
    settings = Settings(master_key=base64.b64encode(key).decode(), data_dir=tmp_path, _env_file=None)
    assert load_master_key(settings) == key
    assert not (tmp_path / "master.key").exists()
    with pytest.raises(MasterKeyError):
        load_master_key(Settings(master_key=base64.b64encode(b"short").decode(), data_dir=tmp_path, _env_file=None))


def test_master_key_generated_once_with_mode_0600(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LLM_API_MASTER_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    first = load_master_key(settings)
    path = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(settings) == first and len(first) == 32
    store = MemoryDataKeyStore()
    token = CredentialVault.from_settings(settings, store).encrypt("alice", SECRET)
    assert CredentialVault.from_settings(settings, store).decrypt("alice", token) == SECRET  # survives a restart

"""Users and API keys, for authentication. The API serves keys from memory (see ``api/auth.py``)."""

from __future__ import annotations

import json
from typing import Any

from domain.users import User
from infra.sqldb import Cursor, SqlDatabase
from projections.base import Projection, handles


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class KeysProjection(Projection):
    name = "keys"
    tables = {
        "users": "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, username TEXT NOT NULL, "
        "is_admin INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)",
        "api_keys": "CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
        "user_id TEXT NOT NULL, name TEXT NOT NULL, scopes TEXT NOT NULL, expires_at TEXT, "
        "revoked INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)",
        "user_credentials": "CREATE TABLE IF NOT EXISTS user_credentials (user_id TEXT NOT NULL, "
        "provider TEXT NOT NULL, last4 TEXT NOT NULL, endpoint TEXT, api_version TEXT, "
        "updated_at TEXT NOT NULL, PRIMARY KEY (user_id, provider))",
    }
    indexes = ("CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_id)",)

    @handles(User.Registered)
    def registered(self, e: User.Registered, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO users (user_id, username, is_admin, disabled, created_at) VALUES (%s, %s, %s, 0, %s)",
            (str(e.originator_id), e.username, int(e.is_admin), iso(e.timestamp)),
        )

    @handles(User.Disabled)
    def disabled(self, e: User.Disabled, cur: Cursor) -> None:
        cur.execute("UPDATE users SET disabled = 1 WHERE user_id = %s", (str(e.originator_id),))
        cur.execute("UPDATE api_keys SET revoked = 1 WHERE user_id = %s", (str(e.originator_id),))

    @handles(User.ApiKeyIssued)
    def api_key_issued(self, e: User.ApiKeyIssued, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO api_keys (key_hash, key_id, user_id, name, scopes, expires_at, revoked, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 0, %s)",
            (
                e.key_hash,
                e.key_id,
                str(e.originator_id),
                e.name,
                json.dumps(e.scopes),
                iso(e.expires_at),
                iso(e.timestamp),
            ),
        )

    @handles(User.ApiKeyRevoked)
    def api_key_revoked(self, e: User.ApiKeyRevoked, cur: Cursor) -> None:
        cur.execute(
            "UPDATE api_keys SET revoked = 1 WHERE user_id = %s AND key_id = %s", (str(e.originator_id), e.key_id)
        )

    @handles(User.ProviderCredentialSet)
    def provider_credential_set(self, e: User.ProviderCredentialSet, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO user_credentials (user_id, provider, last4, endpoint, api_version, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, provider) DO UPDATE SET "
            "last4 = excluded.last4, endpoint = excluded.endpoint, api_version = excluded.api_version, "
            "updated_at = excluded.updated_at",
            (str(e.originator_id), e.provider, e.last4, e.endpoint, e.api_version, iso(e.timestamp)),
        )

    @handles(User.ProviderCredentialRemoved)
    def provider_credential_removed(self, e: User.ProviderCredentialRemoved, cur: Cursor) -> None:
        cur.execute(
            "DELETE FROM user_credentials WHERE user_id = %s AND provider = %s", (str(e.originator_id), e.provider)
        )


def list_credentials(db: SqlDatabase, user_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT provider, last4, endpoint, api_version, updated_at FROM user_credentials "
        "WHERE user_id = %s ORDER BY provider",
        (user_id,),
    )


def find_key(db: SqlDatabase, key_hash: str) -> dict[str, Any] | None:
    rows = db.query(
        "SELECT k.key_id, k.user_id, k.name, k.scopes, k.expires_at, k.revoked, u.username, u.is_admin, u.disabled "
        "FROM api_keys k JOIN users u ON u.user_id = k.user_id WHERE k.key_hash = %s",
        (key_hash,),
    )
    return rows[0] if rows else None


def list_keys(db: SqlDatabase, user_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT key_id, name, scopes, expires_at, revoked, created_at FROM api_keys "
        "WHERE user_id = %s ORDER BY created_at",
        (user_id,),
    )


def list_users(db: SqlDatabase) -> list[dict[str, Any]]:
    return db.query("SELECT user_id, username, is_admin, disabled, created_at FROM users ORDER BY created_at")

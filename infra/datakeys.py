"""Users' wrapped data keys, in the read-model database: outside the immutable event store, so that deleting a
row erases what can decrypt that user's stored secrets (crypto-shredding)."""

from __future__ import annotations

import base64

from infra.sqldb import SqlDatabase


class SqlDataKeyStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def create_table(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS user_data_keys (user_id TEXT PRIMARY KEY, wrapped TEXT NOT NULL)")

    def get(self, user_id: str) -> bytes | None:
        rows = self.db.query("SELECT wrapped FROM user_data_keys WHERE user_id = %s", (user_id,))
        return base64.b64decode(rows[0]["wrapped"]) if rows else None

    def put(self, user_id: str, wrapped: bytes) -> None:
        """Insert only if absent: two processes racing on a new user keep the first key."""
        self.db.execute(
            "INSERT INTO user_data_keys (user_id, wrapped) VALUES (%s, %s) ON CONFLICT (user_id) DO NOTHING",
            (user_id, base64.b64encode(wrapped).decode()),
        )

    def delete(self, user_id: str) -> None:
        self.db.execute("DELETE FROM user_data_keys WHERE user_id = %s", (user_id,))

"""The behaviour suite on both modes: embedded (SQLite, in-process bus, one process) and production
(PostgreSQL, NATS, separate serve/worker/project processes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.e2e.behaviour import GatewayBehaviour
from tests.support.processes import Gateway, embedded_gateway, production_gateway


def fake_env(openai_fake: Any) -> dict[str, str]:
    return {"LLM_API_OPENAI_BASE_URL": openai_fake.base_url, "LLM_API_OPENAI_API_KEY": "sk-test"}


class TestEmbedded(GatewayBehaviour):
    @pytest.fixture(scope="class")
    @classmethod
    def gateway(cls, tmp_path_factory: pytest.TempPathFactory, openai_fake: Any) -> Iterator[Gateway]:
        with embedded_gateway(tmp_path_factory.mktemp("embedded") / "data", **fake_env(openai_fake)) as gateway:
            yield gateway

    def stored_event_count(self, gateway: Gateway) -> int:
        with sqlite3.connect(gateway.data_dir / "events.sqlite3") as conn:
            return conn.execute("SELECT count(*) FROM stored_events").fetchone()[0]


class TestProduction(GatewayBehaviour):
    @pytest.fixture(scope="class")
    @classmethod
    def gateway(cls, tmp_path_factory: pytest.TempPathFactory, openai_fake: Any, pg_url: str, nats_url: str,
                run_id: str) -> Iterator[Gateway]:
        data = tmp_path_factory.mktemp("production") / "data"
        with production_gateway(data, pg_url, nats_url, prefix=f"plg{run_id}b", schema=f"behaviour_{run_id}",
                                **fake_env(openai_fake)) as gateway:
            gateway.pg_url = pg_url
            gateway.schema = f"behaviour_{run_id}"
            yield gateway

    def stored_event_count(self, gateway: Gateway) -> int:
        with psycopg.connect(gateway.pg_url) as conn:
            return conn.execute(f'SELECT count(*) FROM "{gateway.schema}".pluggably_events').fetchone()[0]

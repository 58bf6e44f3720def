"""`/ready` answers 503 naming what is down: here the event store and read models (their schema is dropped)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.support.processes import production_gateway


def test_ready_names_what_is_down(tmp_path: Any, pg_url: str, nats_url: str, run_id: str) -> None:
    schema = f"ready_{run_id}"
    with production_gateway(tmp_path / "data", pg_url, nats_url, prefix=f"plg{run_id}y", schema=schema) as gateway:
        assert httpx.get(gateway.url + "/ready").json() == {"status": "ready"}
        gateway.processes["project"].stop()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        response = httpx.get(gateway.url + "/ready", timeout=10)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not_ready" and {"event_store", "projections"} <= set(body["down"])
        assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}

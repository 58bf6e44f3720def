"""Production topology on the real PostgreSQL and NATS: a worker killed mid-generation, rebuilds by replay."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.behaviour import MODEL, eventually
from tests.support.processes import Gateway, cli, production_gateway, spawn


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, openai_fake: Any, pg_url: str, nats_url: str,
            run_id: str) -> Iterator[Gateway]:
    schema = f"recovery_{run_id}"
    data = tmp_path_factory.mktemp("recovery") / "data"
    with production_gateway(data, pg_url, nats_url, prefix=f"plg{run_id}r", schema=schema,
                            LLM_API_OPENAI_BASE_URL=openai_fake.base_url, LLM_API_OPENAI_API_KEY="sk-test",
                            LLM_API_WORK_ACK_WAIT_S="3") as gateway:
        gateway.pg_url, gateway.schema = pg_url, schema
        yield gateway


def rows(gateway: Gateway, table: str, order: str) -> list[tuple]:
    with psycopg.connect(gateway.pg_url) as conn:
        return conn.execute(f'SELECT * FROM "{gateway.schema}".{table} ORDER BY {order}').fetchall()


def test_killed_worker_work_is_redelivered_completed_once_counted_once(gateway: Gateway, openai_fake: Any) -> None:
    user = gateway.user("kim")
    before = len(openai_fake.api_requests("/chat/completions"))
    openai_fake.script_delay(8, times=1)  # the first worker hangs on the upstream...
    answer: dict[str, Any] = {}

    def call() -> None:
        with gateway.client(user["api_key"]) as client:
            client.timeout = 60
            answer["response"] = client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": "survive"}})

    caller = threading.Thread(target=call)
    caller.start()
    eventually(lambda: assert_upstream_called(openai_fake, before), timeout=40)
    gateway.processes["worker"].kill()  # ...and dies there, without acking
    gateway.processes["worker"] = spawn(["worker"], gateway.env, gateway.data_dir.parent / "worker2.log")
    caller.join(60)
    response = answer["response"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"]["text"] == "Echo: survive"
    gid = body["request_id"]
    with gateway.client(user["api_key"]) as client:
        status = client.get(f"/v1/generations/{gid}").json()
        assert status["status"] == "completed" and status["attempt"] == 2

        def counted_once() -> None:
            usage = client.get("/v1/usage").json()
            assert usage["totals"]["requests"] == 1, usage

        eventually(counted_once, timeout=40)
        time.sleep(1.0)
        counted_once()
    with psycopg.connect(gateway.pg_url) as conn:
        types = [r[0] for r in conn.execute(
            f'SELECT topic FROM "{gateway.schema}".pluggably_events WHERE originator_id = %s '
            'ORDER BY originator_version', (gid,))]
    assert [t.rsplit(".", 1)[-1] for t in types] == ["Requested", "Started", "Started", "Completed"]


def assert_upstream_called(fake: Any, before: int) -> None:
    assert len(fake.api_requests("/chat/completions")) > before


def test_rebuild_gives_the_same_rows(gateway: Gateway) -> None:
    user = gateway.user("rita")
    with gateway.client(user["api_key"]) as client:
        sid = client.post("/v1/sessions", json={"title": "replay me"}).json()["id"]
        assert client.post(f"/v1/sessions/{sid}/generate",
                           json={"model": MODEL, "input": {"prompt": "hello"}}).status_code == 200
        client.get(f"/v1/sessions/{sid}")  # read-your-writes: the projections caught up
    gateway.processes["project"].stop()
    tables = {"sessions": [("sessions", "id"), ("session_messages", "session_id, seq")],
              "generations": [("generations", "id")], "keys": [("users", "user_id"), ("api_keys", "key_hash")]}
    for name, views in tables.items():
        before = {table: rows(gateway, table, order) for table, order in views}
        assert all(before.values())
        assert cli(["project", "--rebuild", name], gateway.env).strip() == f"rebuilt {name}"
        after = {table: rows(gateway, table, order) for table, order in views}
        assert after == before
    gateway.processes["project"] = spawn(["project"], gateway.env, gateway.data_dir.parent / "project2.log")
    assert httpx.get(gateway.url + "/ready").status_code == 200

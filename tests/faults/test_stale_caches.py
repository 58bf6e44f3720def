"""Keys and credentials cached in memory stay correct when the events that change them arrive late or never reach
the process over the bus: with the projector (and so the relay) stopped and NATS down, a revoked key and a disabled
user are refused by every API process (``serve --workers 2``, each with its own cache) soon after the change was
written — by the CLI, straight to the event store. Each process reads those events from the event store itself
(``services.feed.EventFeed.follow_store``, twice a second); the measured delay is printed for
docs/ops/reliability.md."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import fresh_database
from tests.support.processes import Gateway, cli, production_gateway
from tests.support.servers import PrivateNats, PrivatePostgres

MODEL = "openai:gpt-4o-mini"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, private_pg: PrivatePostgres, private_nats: PrivateNats,
            openai_fake: Any) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("caches") / "data"
    with production_gateway(data, fresh_database(private_pg), private_nats.url, prefix="caches",
                            serve_args=("--workers", "2"), LLM_API_OPENAI_BASE_URL=openai_fake.base_url,
                            LLM_API_OPENAI_API_KEY="sk-test") as gateway:
        yield gateway


def statuses(gateway: Gateway, key: str, n: int = 24) -> set[int]:
    """The statuses of ``n`` requests, each on a fresh connection (so both API processes answer some)."""
    return {httpx.get(gateway.url + "/v1/me", headers={"X-API-Key": key}, timeout=10).status_code
            for _ in range(n)}


def refused_within(gateway: Gateway, key: str, limit_s: float = 20.0) -> float:
    """Seconds until every process refuses ``key`` (bounded generously: the machine is shared): from the change to
    the first of ``statuses``' rounds that only got 401s."""
    start = time.monotonic()
    while True:
        began = time.monotonic()
        if statuses(gateway, key) == {401}:
            return began - start
        assert time.monotonic() - start < limit_s, "a process still accepts the key"
        time.sleep(0.05)


def test_revoked_and_disabled_are_refused_with_the_relay_stuck_and_nats_down(
        gateway: Gateway, private_nats: PrivateNats) -> None:
    ada = gateway.user("ada-cache")
    with gateway.client(ada["api_key"]) as client:
        spare = client.post("/v1/keys", json={"name": "spare"}).json()
    for key in (ada["api_key"], spare["api_key"]):
        assert statuses(gateway, key) == {200}  # cached in both processes now

    gateway.processes["project"].stop()  # no projector, no relay: no User event reaches the bus
    private_nats.stop()  # and the bus is down: the API processes are reconnecting
    try:
        cli(["users", "disable", "--username", "ada-cache"], gateway.env)
        disabled_s = refused_within(gateway, ada["api_key"])
        assert statuses(gateway, spare["api_key"]) == {401}  # every key of the user
    finally:
        private_nats.start()
    print(f"\nFIGURE stale_cache_refused_after_s={disabled_s:.2f}")


def test_a_revoked_key_is_refused_while_the_projector_is_stopped(gateway: Gateway) -> None:
    bea = gateway.user("bea-cache")
    with gateway.client(bea["api_key"]) as client:
        temp = client.post("/v1/keys", json={"name": "temp"}).json()
        assert statuses(gateway, temp["api_key"]) == {200}
        if gateway.processes["project"].proc.poll() is None:
            gateway.processes["project"].stop()
        assert client.delete(f"/v1/keys/{temp['key_id']}").status_code == 204
    revoked_s = refused_within(gateway, temp["api_key"])
    assert statuses(gateway, bea["api_key"]) == {200}  # her other key still works
    print(f"\nFIGURE revoked_key_refused_after_s={revoked_s:.2f}")

"""One bad event never stops the others: events no consumer can handle, written straight into the event store
(past the API's checks), on both modes (SQLite + the in-process bus; a private PostgreSQL + NATS).

Each consumer (every projection, the relay, the usage meter) parks what it cannot handle, reports it (``/ready``'s
report, metrics) and moves on; events after the bad ones are projected, relayed and metered; a parked event is
applied once its cause is fixed; a projection stuck on a systemic failure (its table gone) is named as down and
recovers by itself when the table is back.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.bootstrap import PROJECTOR, Container, build, migrate
from infra.bus.messages import events_subject
from infra.settings import Settings
from projections.sessions import SessionsProjection, get_session
from projections.usage import usage_for
from tests.faults.conftest import fresh_database
from tests.support.servers import PrivateNats, PrivatePostgres

BOGUS_TOPIC = "nowhere.gone:Gone.Created"  # an event class that does not exist (a newer version's, a damaged row)


async def until(check: Any, timeout: float = 30.0) -> Any:
    """``check()``'s first true answer (it may be a coroutine function), polling; fails after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout}s: {check}")
        await asyncio.sleep(0.1)


class PoisonEvents:
    postgres = False

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        raise NotImplementedError

    def insert_bogus_event(self, settings: Settings) -> None:
        raise NotImplementedError

    @pytest.fixture
    async def container(self, settings: Settings) -> AsyncIterator[Container]:
        container = build(settings, {PROJECTOR})
        migrate(container)
        container.projector.retry_s = container.relay.retry_s = 3600.0  # parked events are retried by the test
        await container.start()
        try:
            yield container
        finally:
            await container.stop()

    async def test_bad_events_are_parked_and_everything_after_them_goes_on(self, container: Container,
                                                                          settings: Settings) -> None:
        app = container.app
        user, _, _ = app.register_user("poisoned", "a-long-password")
        owner = str(user.id)
        self.insert_bogus_event(settings)
        nul = app.create_session(owner, "a\x00b", None)  # the API refuses it; the event store may still hold one
        huge = app.create_session(owner, "x" * 2_000_000, None)  # over the bus's 1 MiB: relayed by reference
        await container.bus.publish(events_subject("Generation.Completed"), b"not an event", msg_id="bad-1")

        after = app.create_session(owner, "after the poison", None)
        generation = app.request_generation(
            owner_id=owner, key_id=None, session_id=None, modality="text",
            targets=[{"model": "openai:gpt-4o-mini", "runtime": "openai", "location": "gpt-4o-mini"}],
            messages=[{"role": "user", "content": "count me"}], parameters={}, stream=False)
        app.start_generation(str(generation.id), "test", "m1")
        app.complete_generation(str(generation.id), model="openai:gpt-4o-mini", provider="openai",
                                output={"text": "counted"}, usage={"input_tokens": 2, "output_tokens": 1},
                                finish_reason="stop", latency_ms=1.0, ttft_ms=None)

        db = container.db
        await until(lambda: get_session(db, owner, str(after.id)) is not None)  # the projections went on
        await until(lambda: usage_for(db, owner)["totals"]["requests"] == 1, timeout=40)  # relayed, metered
        head = container.projector.head()
        await until(lambda: container.relay.position() >= head)
        assert get_session(db, owner, str(huge.id))["title"] == "x" * 2_000_000

        report = await until(lambda: self._settled(container), timeout=40)
        assert report["down"] == []
        parked = report["parked"]
        for name in container.projector.projections:  # every projection parked the event that does not decode
            assert parked.get(f"projection:{name}", 0) >= 1, parked
        assert parked["relay"] == 1 and parked["meter"] == 1
        if self.postgres:  # PostgreSQL's text cannot hold NUL: the sessions view parked that one too
            assert parked["projection:sessions"] == 2
            assert get_session(db, owner, str(nul.id)) is None

            # The cause fixed (here: a handler that stores NUL safely), the parked event is applied.
            original = SessionsProjection.started

            def safe(projection: Any, event: Any, cur: Any) -> None:
                event.__dict__["title"] = event.title.replace("\x00", "\ufffd")
                original(projection, event, cur)

            SessionsProjection.started = safe  # type: ignore[method-assign]
            try:
                await asyncio.get_running_loop().run_in_executor(None, container.projector.retry_parked)
            finally:
                SessionsProjection.started = original  # type: ignore[method-assign]
            assert get_session(db, owner, str(nul.id))["title"] == "a\ufffdb"
        else:
            assert get_session(db, owner, str(nul.id))["title"] == "a\x00b"
        metrics = (await self._metrics(container)).decode()
        assert 'llm_api_parked_events{consumer="relay"} 1.0' in metrics

    async def test_a_systemic_failure_is_named_and_recovers_by_itself(self, container: Container) -> None:
        app, db = container.app, container.db
        user, _, _ = app.register_user("systemic", "a-long-password")
        owner = str(user.id)
        first = app.create_session(owner, "before", None)
        await until(lambda: get_session(db, owner, str(first.id)) is not None)
        db.execute("DROP TABLE session_messages")
        session = app.create_session(owner, "during", None)
        app.rename_session(owner, str(session.id), "renamed")
        chat = app.create_session(owner, "chat", None)
        chat.append_message("user", "hello", None)
        app.save(chat)
        report = await until(lambda: self._down(container, "projection:sessions"), timeout=30)
        assert "projection:sessions" in report["down"]
        assert report["parked"].get("projection:sessions", 0) == 0  # a missing table parks nothing
        other, _, _ = app.register_user("meanwhile", "a-long-password")  # the other projections go on
        await until(lambda: db.query("SELECT 1 FROM users WHERE user_id = %s", (str(other.id),)))
        for ddl in SessionsProjection.tables.values():  # the cause fixed
            db.execute(ddl)
        await until(lambda: (get_session(db, owner, str(chat.id)) or {}).get("messages"), timeout=30)
        assert get_session(db, owner, str(session.id))["title"] == "renamed"
        await until(lambda: self._ready(container))

    async def _ready(self, container: Container) -> bool:
        return (await container.services.health.report())["down"] == []

    # -- helpers ---------------------------------------------------------------------------------------------

    async def _settled(self, container: Container) -> dict[str, Any] | None:
        """The readiness report once nothing is stuck and the relay and the meter parked what they could not use."""
        report = await container.services.health.report()
        parked = report["parked"]
        return report if not report["down"] and parked.get("relay") and parked.get("meter") else None

    async def _down(self, container: Container, name: str) -> dict[str, Any] | None:
        report = await container.services.health.report()
        return report if name in report["down"] else None

    async def _metrics(self, container: Container) -> bytes:
        from infra import metrics

        await container.services.health.observe()
        return metrics.render()


class TestEmbedded(PoisonEvents):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None, nats_url=None,
                        nats_prefix="poison")

    def insert_bogus_event(self, settings: Settings) -> None:
        with sqlite3.connect(settings.data_dir / "events.sqlite3") as conn:
            conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                         "VALUES (?, 1, ?, ?)", (str(uuid.uuid4()), BOGUS_TOPIC, b"{}"))


class TestProduction(PoisonEvents):
    postgres = True

    @pytest.fixture
    def settings(self, tmp_path: Path, private_pg: PrivatePostgres, private_nats: PrivateNats) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=fresh_database(private_pg),
                        nats_url=private_nats.url, nats_prefix="poison" + uuid.uuid4().hex[:6])

    def insert_bogus_event(self, settings: Settings) -> None:
        assert settings.database_url
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("INSERT INTO pluggably_events (originator_id, originator_version, topic, state) "
                         "VALUES (%s, 1, %s, %s)", (uuid.uuid4(), BOGUS_TOPIC, b"{}"))

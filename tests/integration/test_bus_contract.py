"""The bus contract: one body, run on the in-process twin and on the real NATS JetStream."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from infra.bus.base import Bus, Delivery
from infra.bus.memory import MemoryBus
from infra.bus.nats import NatsBus


async def take(queue: asyncio.Queue, timeout: float = 10.0):
    return await asyncio.wait_for(queue.get(), timeout)


class BusContract:
    ack_wait_s = 2.0

    @pytest.fixture
    async def bus(self) -> AsyncIterator[Bus]:
        raise NotImplementedError

    async def test_work_goes_to_one_consumer_and_unacked_work_comes_back(self, bus: Bus) -> None:
        seen: asyncio.Queue = asyncio.Queue()

        async def forgetful(delivery: Delivery) -> None:  # never acks: like a worker that died
            await seen.put((delivery.data, delivery.attempt, delivery.message_id))

        await bus.publish("work.generate.x", b"job-1", msg_id="job-1")
        sub = await bus.consume("work.generate.x", "generate_x", forgetful, concurrency=1)
        data, attempt, message_id = await take(seen)
        assert (data, attempt) == (b"job-1", 1) and message_id
        # The message comes back after ack_wait with the same identity: that is what workers rely on to take
        # over. (Its delivery count is not: NATS restarts it at 1 after a delivery it counts as failed.)
        again = await take(seen, timeout=self.ack_wait_s * 5)
        assert again[0] == b"job-1" and again[2] == message_id
        await bus.publish("work.generate.x", b"job-1", msg_id="job-1-copy")  # another message, same content
        while (other := await take(seen, timeout=self.ack_wait_s * 5))[2] == message_id:
            pass
        assert other[0] == b"job-1" and other[2] != message_id
        await sub.stop()

    async def test_acked_work_is_done_and_duplicates_are_dropped(self, bus: Bus) -> None:
        seen: asyncio.Queue = asyncio.Queue()

        async def worker(delivery: Delivery) -> None:
            await delivery.ack()
            await seen.put(delivery.data)

        await bus.consume("work.generate.y", "generate_y", worker, concurrency=2)
        await bus.publish("work.generate.y", b"one", msg_id="dup")
        await bus.publish("work.generate.y", b"one", msg_id="dup")
        await bus.publish("work.generate.y", b"two", msg_id="other")
        assert {await take(seen), await take(seen)} == {b"one", b"two"}
        await asyncio.sleep(self.ack_wait_s * 1.5)
        assert seen.empty()
        assert await bus.pending("work.generate.y", "generate_y") == 0

    async def test_token_subjects_replay_from_the_start_then_live(self, bus: Bus) -> None:
        for i in range(3):
            await bus.publish("tokens.g1", f"t{i}".encode())
        got = []

        async def read() -> None:
            async for data in bus.replay("tokens.g1"):
                got.append(data)
                if data == b"end":
                    return

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        await bus.publish("tokens.g1", b"end")
        await asyncio.wait_for(reader, 10)
        assert got == [b"t0", b"t1", b"t2", b"end"]

    async def test_live_subscription_sees_durable_publishes_and_signals(self, bus: Bus) -> None:
        seen: asyncio.Queue = asyncio.Queue()

        async def handler(subject: str, data: bytes) -> None:
            await seen.put((subject, data))

        sub = await bus.subscribe("tokens.*", handler)
        await bus.subscribe("control.cancel.*", handler)
        await asyncio.sleep(0.1)
        await bus.publish("tokens.g2", b"x")
        await bus.publish_signal("control.cancel.g2")
        assert await take(seen) == ("tokens.g2", b"x")
        assert await take(seen) == ("control.cancel.g2", b"")
        await sub.stop()

    async def test_event_consumers_each_get_every_event(self, bus: Bus) -> None:
        a: asyncio.Queue = asyncio.Queue()
        b: asyncio.Queue = asyncio.Queue()

        def into(queue: asyncio.Queue):
            async def handler(delivery: Delivery) -> None:
                await delivery.ack()
                await queue.put(delivery.subject)
            return handler

        await bus.consume("events.Generation.>", "meter_a", into(a), concurrency=1)
        await bus.consume("events.Generation.>", "meter_b", into(b), concurrency=1)
        await bus.publish("events.Generation.Completed", b"{}", msg_id="e1")
        assert await take(a) == "events.Generation.Completed"
        assert await take(b) == "events.Generation.Completed"


class TestMemoryBus(BusContract):
    @pytest.fixture
    async def bus(self) -> AsyncIterator[Bus]:
        bus = MemoryBus("test", ack_wait_s=self.ack_wait_s)
        await bus.connect()
        yield bus
        await bus.close()


class TestNatsBus(BusContract):
    @pytest.fixture
    async def bus(self, nats_url: str) -> AsyncIterator[Bus]:
        bus = NatsBus(nats_url, "t" + secrets.token_hex(4), ack_wait_s=self.ack_wait_s)
        await bus.connect()
        yield bus
        for stream in bus.streams.values():
            try:
                await bus._js.delete_stream(stream)
            except Exception:
                pass
        await bus.close()

    async def test_prefixes_isolate_deployments(self, bus: Bus, nats_url: str) -> None:
        other = NatsBus(nats_url, "t" + secrets.token_hex(4), ack_wait_s=self.ack_wait_s)
        await other.connect()
        try:
            seen: asyncio.Queue = asyncio.Queue()

            async def handler(delivery: Delivery) -> None:
                await delivery.ack()
                await seen.put(delivery.data)

            await other.consume("work.generate.z", "generate_z", handler)
            await bus.publish("work.generate.z", b"not yours", msg_id="iso")
            await asyncio.sleep(1.5)
            assert seen.empty()
        finally:
            for stream in other.streams.values():
                try:
                    await other._js.delete_stream(stream)
                except Exception:
                    pass
            await other.close()

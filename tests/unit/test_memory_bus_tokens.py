"""The in-process bus's token store: bounded by age, subject count and bytes, the oldest first, without walking
every stored subject on a publish; a released subject is dropped once nobody replays it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from infra.bus.memory import MemoryBus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def stored(bus: MemoryBus, subject: str) -> list[bytes]:
    """What a replay of ``subject`` yields before it would wait for more."""
    got: list[bytes] = []
    source = bus.replay(subject)
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(await asyncio.wait_for(anext(source), 0.05))
    await source.aclose()  # type: ignore[attr-defined]
    return got


async def test_subjects_expire_oldest_first_by_age() -> None:
    clock = Clock()
    bus = MemoryBus(tokens_max_age_s=10, clock=clock)
    await bus.publish("tokens.a", b"a1")
    clock.now += 6
    await bus.publish("tokens.b", b"b1")
    await bus.publish("tokens.a", b"a2")  # a later message does not make a subject younger
    clock.now += 5
    await bus.publish("tokens.c", b"c1")
    assert await stored(bus, "tokens.a") == []
    assert await stored(bus, "tokens.b") == [b"b1"]
    assert await stored(bus, "tokens.c") == [b"c1"]


async def test_the_store_keeps_at_most_its_subjects_and_bytes() -> None:
    bus = MemoryBus(tokens_max_subjects=3, tokens_max_bytes=10)
    for name in "abcd":
        await bus.publish(f"tokens.{name}", b"x")
    assert await stored(bus, "tokens.a") == []
    assert [await stored(bus, f"tokens.{n}") for n in "bcd"] == [[b"x"]] * 3
    await bus.publish("tokens.e", b"123456789")  # 12 bytes in all: the oldest go until it fits
    assert await stored(bus, "tokens.b") == [] and await stored(bus, "tokens.c") == []
    assert await stored(bus, "tokens.d") == [b"x"] and await stored(bus, "tokens.e") == [b"123456789"]


async def test_a_full_store_never_drops_a_subject_someone_replays() -> None:
    bus = MemoryBus(tokens_max_subjects=2)
    await bus.publish("tokens.read", b"r1")
    seen: list[bytes] = []

    async def read(source: AsyncIterator[bytes]) -> None:
        async for data in source:
            seen.append(data)
            if data == b"end":
                return

    reader = asyncio.create_task(read(bus.replay("tokens.read")))
    await asyncio.sleep(0)
    for i in range(5):
        await bus.publish(f"tokens.other{i}", b"o")
    await bus.publish("tokens.read", b"end")
    await asyncio.wait_for(reader, 5)
    assert seen == [b"r1", b"end"]


async def test_a_released_subject_is_dropped_once_its_readers_stop() -> None:
    bus = MemoryBus()
    await bus.publish("tokens.quiet", b"done")
    await bus.release("tokens.quiet")
    assert await stored(bus, "tokens.quiet") == []

    await bus.publish("tokens.read", b"t1")
    source = bus.replay("tokens.read")
    assert await anext(source) == b"t1"
    await bus.release("tokens.read")
    assert await stored(bus, "tokens.read") == [b"t1"]  # still read: kept
    await source.aclose()  # type: ignore[attr-defined]
    assert await stored(bus, "tokens.read") == []


async def test_a_publish_looks_at_the_oldest_subject_only() -> None:
    """Counted, not timed: however many subjects are stored, a publish reads one of them besides its own."""

    class Counting(dict):  # type: ignore[type-arg]
        reads = 0

        def __getitem__(self, key: str) -> object:
            Counting.reads += 1
            return super().__getitem__(key)

    bus = MemoryBus()
    bus._tokens = Counting()
    for i in range(5000):
        await bus.publish(f"tokens.g{i}", b"t")
    Counting.reads = 0
    await bus.publish("tokens.last", b"t")
    assert Counting.reads <= 2

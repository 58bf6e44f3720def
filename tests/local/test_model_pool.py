"""The model pool on its own, with plain Python objects as models (no heavy library)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from runtimes.local.model_pool import ModelPool


class Loader:
    """Loads ``Model(key)`` objects slowly enough for requests to overlap, and counts loads and unloads."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.loads: list[str] = []
        self.unloaded: list[str] = []

    def load(self, key: str):
        def do() -> dict:
            time.sleep(self.delay)
            self.loads.append(key)
            return {"key": key}
        return do

    def unload(self, model: dict) -> None:
        self.unloaded.append(model["key"])


async def use(pool: ModelPool, loader: Loader, key: str, size_mb: float = 10, hold: float = 0.0):
    async with pool.use(key, loader.load(key), size_mb=size_mb, unload=loader.unload) as lease:
        await asyncio.sleep(hold)
        return lease.model


async def test_concurrent_requests_share_one_load():
    pool, loader = ModelPool(100, 0), Loader(delay=0.2)
    models = await asyncio.gather(*(use(pool, loader, "m") for _ in range(5)))
    assert loader.loads == ["m"]
    assert all(m is models[0] for m in models)
    assert pool.loaded() == ["m"] and pool.stats.loads == 1


async def test_least_recently_used_is_evicted_over_budget():
    pool, loader = ModelPool(25, 0), Loader(delay=0)
    await use(pool, loader, "a")
    await use(pool, loader, "b")
    await use(pool, loader, "a")  # b is now the least recently used
    await use(pool, loader, "c")
    assert pool.loaded() == ["a", "c"]
    assert pool.stats.evictions == 1
    await pool.aclose()  # unloads run in the models' threads; aclose waits for them
    assert loader.unloaded[0] == "b"


async def test_a_model_in_use_is_not_evicted():
    pool, loader = ModelPool(15, 0), Loader(delay=0)
    busy = asyncio.ensure_future(use(pool, loader, "a", hold=0.3))
    await asyncio.sleep(0.1)
    await use(pool, loader, "b")  # over budget while a is in use: b, idle once done, is the one to go
    assert pool.loaded() == ["a"] and pool.stats.evictions == 1
    await busy
    assert pool.loaded() == ["a"] and loader.loads == ["a", "b"]


async def test_idle_models_are_unloaded():
    now = [0.0]
    pool, loader = ModelPool(100, idle_unload_s=60, clock=lambda: now[0]), Loader(delay=0)
    await use(pool, loader, "a")
    now[0] = 30.0
    await use(pool, loader, "b")
    now[0] = 70.0
    pool.sweep()
    assert pool.loaded() == ["b"] and pool.stats.idle_unloads == 1
    now[0] = 100.0
    pool.sweep()
    assert pool.loaded() == [] and pool.stats.idle_unloads == 2
    await pool.aclose()


async def test_a_failed_load_fails_every_waiter_and_is_not_kept():
    pool = ModelPool(100, 0)
    calls = []

    def broken():
        calls.append(1)
        time.sleep(0.05)
        raise OSError("bad file")

    async def attempt():
        async with pool.use("x", broken, size_mb=1):
            pass

    results = await asyncio.gather(*(attempt() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results) and len(calls) == 1
    assert pool.loaded() == [] and pool.stats.load_failures == 1
    with pytest.raises(OSError):
        await attempt()  # the next request tries again
    assert len(calls) == 2


async def test_work_on_one_instance_never_overlaps():
    pool, loader = ModelPool(100, 0), Loader(delay=0)
    active, overlaps = [0], [0]
    lock = threading.Lock()

    def work(emit, cancelled):
        with lock:
            active[0] += 1
            overlaps[0] += active[0] > 1
        for i in range(5):
            time.sleep(0.005)
            emit(i)
        with lock:
            active[0] -= 1

    async def one():
        async with pool.use("m", loader.load("m"), size_mb=1) as lease:
            return [item async for item in lease.stream(work)]

    results = await asyncio.gather(*(one() for _ in range(4)))
    assert results == [[0, 1, 2, 3, 4]] * 4
    assert overlaps[0] == 0


async def test_cancel_stops_the_work_at_its_next_emit():
    pool, loader = ModelPool(100, 0), Loader(delay=0)
    produced = [0]
    first = asyncio.Event()

    def work(emit, cancelled):
        for i in range(10_000):
            produced[0] += 1
            emit(i)

    async def consume():
        async with pool.use("m", loader.load("m"), size_mb=1) as lease:
            async for _ in lease.stream(work):
                first.set()

    task = asyncio.ensure_future(consume())
    await first.wait()
    at_cancel = produced[0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread runs at most one item ahead of the consumer, then stops at its next emit.
    assert produced[0] - at_cancel <= 2
    assert produced[0] < 10


async def test_items_waiting_together_are_merged_for_a_slow_consumer():
    from runtimes.base import Progress, TextDelta
    from runtimes.local import merge_text

    pool, loader = ModelPool(100, 0), Loader(delay=0)
    taken, produced = threading.Event(), threading.Event()

    def work(emit, cancelled):
        emit(TextDelta("a"))
        taken.wait(5)
        for word in ("b", "c", "d"):
            emit(TextDelta(word))
        emit(Progress(1, 1))
        emit(TextDelta("e"))
        produced.set()

    async with pool.use("m", loader.load("m"), size_mb=1, unload=loader.unload) as lease:
        chunks = []
        async for chunk in lease.stream(work, window=64, merge=merge_text):
            if not chunks:
                taken.set()
                await asyncio.to_thread(produced.wait, 5)  # the consumer falls behind the model
            chunks.append(chunk)
    assert chunks == [TextDelta("a"), TextDelta("bcd"), Progress(1, 1), TextDelta("e")]
    await pool.aclose()

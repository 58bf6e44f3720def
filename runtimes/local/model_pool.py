"""A pool of loaded local models, shared by the local runtimes of one process.

- Models load lazily, on first use, in a thread; concurrent requests for a model that is loading wait for that one
  load (never two loads of one model).
- Each loaded instance owns one thread: every call on it (load, generation, unload) runs there, one at a time,
  so two requests can never corrupt one model. That thread is the instance's lock.
- Loaded models stay warm. When the estimated sizes of the loaded models would exceed the memory budget, the
  least recently used idle ones are unloaded first; a model idle for ``idle_unload_s`` is unloaded too. A model in
  use is never unloaded. A model larger than the whole budget still loads, alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from infra import metrics

log = logging.getLogger(__name__)

Emit = Callable[[Any], None]


class _Stopped(Exception):
    """Raised inside a worker thread by ``emit`` once its consumer has gone: unwinds the generation."""


@dataclass(eq=False)
class _Entry:
    key: Hashable
    size_mb: float
    unload: Callable[[Any], None] | None
    executor: ThreadPoolExecutor
    model: Any = None
    users: int = 0
    last_used: float = 0.0


@dataclass
class PoolStats:
    loads: int = 0
    evictions: int = 0  # unloaded to stay under the memory budget
    idle_unloads: int = 0
    load_failures: int = 0


class Lease:
    """A model in use: ``lease.model``, and ``run``/``stream`` to work on it in its own thread."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def model(self) -> Any:
        return self._entry.model

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._entry.executor, fn, *args)

    async def stream(
        self,
        work: Callable[[Emit, threading.Event], None],
        *,
        window: int = 1,
        merge: Callable[[Any, Any], Any] | None = None,
    ) -> AsyncIterator[Any]:
        """Run ``work(emit, cancelled)`` in the model's thread and yield each item it emits, as it emits it.

        The thread runs at most ``window`` items ahead of the consumer (``emit`` waits), so a slow reader slows
        the generation instead of piling items up. When the consumer stops (cancelled task, closed generator),
        ``cancelled`` is set and ``emit`` raises inside the thread, so the work stops at its next token or step;
        the instance is free again after that. An exception raised by ``work`` is raised here, in order.
        Items already waiting when the consumer comes back are combined by ``merge(a, b)`` (None: keep apart),
        so a consumer that falls behind catches up in one step instead of one step per item.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()
        credits = threading.Semaphore(window)

        def put(kind: str, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def emit(item: Any) -> None:
            while not credits.acquire(timeout=1.0):
                if loop.is_closed():
                    cancelled.set()
                    break
            if cancelled.is_set():
                raise _Stopped
            put("item", item)

        def job() -> None:
            try:
                work(emit, cancelled)
            except _Stopped:
                pass
            except BaseException as exc:  # handed to the consumer
                put("error", exc)
            finally:
                put("end", None)

        future = loop.run_in_executor(self._entry.executor, job)
        held: tuple[str, Any] | None = None
        try:
            while True:
                kind, value = held or await queue.get()
                held = None
                if kind == "item":
                    credits.release()
                    while merge is not None and not queue.empty():
                        held = queue.get_nowait()
                        combined = merge(value, held[1]) if held[0] == "item" else None
                        if combined is None:
                            break
                        credits.release()
                        value, held = combined, None
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            cancelled.set()
            credits.release()  # wake an emit that waits for room
            if not future.done():
                # Wait (never cancel) until the thread has seen the flag: it stops at its next emit.
                await asyncio.wait([future])


class ModelPool:
    """Loaded local models under one memory budget. Create one per process (see ``shared_pool``)."""

    def __init__(self, budget_mb: float, idle_unload_s: float, *, clock: Callable[[], float] = time.monotonic):
        self.budget_mb = budget_mb
        self.idle_unload_s = idle_unload_s  # <= 0: never unload for idleness
        self.stats = PoolStats()
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recently used first
        self._loading: dict[Hashable, asyncio.Task[_Entry]] = {}
        self._loading_mb: dict[Hashable, float] = {}  # estimated sizes of the loads in flight
        self._reaper: asyncio.Task[None] | None = None

    def loaded(self) -> list[Hashable]:
        """Keys of the loaded models, least recently used first."""
        return list(self._entries)

    def loaded_mb(self) -> float:
        return sum(e.size_mb for e in self._entries.values())

    @contextlib.asynccontextmanager
    async def use(
        self, key: Hashable, load: Callable[[], Any], *, size_mb: float, unload: Callable[[Any], None] | None = None
    ) -> AsyncIterator[Lease]:
        """Hold model ``key`` (loading it with ``load()`` in a thread if needed) for the duration of the block."""
        self._start_reaper()
        entry = await self._get(key, load, size_mb, unload)
        entry.users += 1
        try:
            yield Lease(entry)
        finally:
            entry.users -= 1
            entry.last_used = self._clock()
            self._trim()

    async def _get(
        self, key: Hashable, load: Callable[[], Any], size_mb: float, unload: Callable[[Any], None] | None
    ) -> _Entry:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load, size_mb, unload))
            self._loading[key] = task
        # Shielded: a cancelled caller leaves the load to finish for the others (and for the next request).
        return await asyncio.shield(task)

    async def _load(
        self, key: Hashable, load: Callable[[], Any], size_mb: float, unload: Callable[[Any], None] | None
    ) -> _Entry:
        entry = _Entry(key, size_mb, unload, ThreadPoolExecutor(1, thread_name_prefix="model"))
        try:
            self._make_room(size_mb)
            self._loading_mb[key] = size_mb
            entry.model = await asyncio.get_running_loop().run_in_executor(entry.executor, load)
        except BaseException:
            self.stats.load_failures += 1
            entry.executor.shutdown(wait=False)
            raise
        finally:
            del self._loading[key]
            self._loading_mb.pop(key, None)
        entry.last_used = self._clock()
        self._entries[key] = entry
        self.stats.loads += 1
        metrics.LOCAL_MODEL_LOADS.inc()
        log.info(
            "loaded local model %s (~%.0f MB; %.0f MB of %s MB in use)", key, size_mb, self.loaded_mb(), self.budget_mb
        )
        return entry

    def _evicted(self) -> None:
        self.stats.evictions += 1
        metrics.LOCAL_MODEL_EVICTIONS.inc()

    def _make_room(self, size_mb: float) -> None:
        """Before a load: unload idle models, least recently used first, until the new one fits the budget."""
        for entry in list(self._entries.values()):
            if self.loaded_mb() + self._pending_mb() + size_mb <= self.budget_mb:
                break
            if entry.users == 0:
                self._unload(entry)
                self._evicted()

    def _pending_mb(self) -> float:
        return sum(self._loading_mb.values())

    def _trim(self) -> None:
        """Unload idle models past ``idle_unload_s`` and, least recently used first, any over the budget."""
        now = self._clock()
        for entry in list(self._entries.values()):
            if entry.users:
                continue
            if self.idle_unload_s > 0 and now - entry.last_used >= self.idle_unload_s:
                self._unload(entry)
                self.stats.idle_unloads += 1
            elif self.loaded_mb() > self.budget_mb and len(self._entries) > 1:
                self._unload(entry)
                self._evicted()

    def _unload(self, entry: _Entry) -> None:
        """Forget the entry now; release it in its own thread, after any work still queued there."""
        del self._entries[entry.key]
        model, entry.model = entry.model, None
        log.info("unloading local model %s", entry.key)

        def release() -> None:
            try:
                if entry.unload is not None:
                    entry.unload(model)
            except Exception:
                log.exception("unloading local model %s failed", entry.key)

        entry.executor.submit(release)
        entry.executor.shutdown(wait=False)

    def sweep(self) -> None:
        """Apply the idle and budget rules now (the pool also does it after each use and periodically)."""
        self._trim()

    def _start_reaper(self) -> None:
        if self.idle_unload_s <= 0 or (self._reaper is not None and not self._reaper.done()):
            return
        self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="model-pool-reaper")

    async def _reap(self) -> None:
        interval = min(max(self.idle_unload_s / 2, 0.05), 30.0)
        while self._entries or self._loading:
            await asyncio.sleep(interval)
            self._trim()

    async def aclose(self) -> None:
        """Unload everything (waiting for work in flight to finish)."""
        if self._reaper is not None:
            self._reaper.cancel()
        for task in list(self._loading.values()):
            with contextlib.suppress(BaseException):
                await task
        entries = list(self._entries.values())
        for entry in entries:
            self._unload(entry)

        def shut_down() -> None:
            for e in entries:
                e.executor.shutdown(wait=True)

        await asyncio.get_running_loop().run_in_executor(None, shut_down)


_shared: ModelPool | None = None
_shared_lock = threading.Lock()


def shared_pool(settings: Any) -> ModelPool:
    """The process-wide pool, made on first call from ``local_memory_budget_mb`` and ``local_idle_unload_s``."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ModelPool(settings.local_memory_budget_mb, settings.local_idle_unload_s)
        return _shared

"""The in-process bus: the same semantics as the NATS one, inside one process (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from infra.bus.base import MAX_PAYLOAD, Bus, Delivery, Handler, Subscription, WorkHandler

log = logging.getLogger(__name__)
DEDUP_WINDOW_S = 120.0
#: The token store's bounds: a subject is kept this long at most (the NATS ``TOKENS`` stream's max age), and the
#: oldest subjects go first once there are more than ``TOKENS_MAX_SUBJECTS`` or they hold over ``TOKENS_MAX_BYTES``.
TOKENS_MAX_AGE_S = 600.0
TOKENS_MAX_SUBJECTS = 20_000
TOKENS_MAX_BYTES = 64 * 1024 * 1024


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest."""
    p_parts, s_parts = pattern.split("."), subject.split(".")
    for i, token in enumerate(p_parts):
        if token == ">":
            return len(s_parts) > i
        if i >= len(s_parts) or (token != "*" and token != s_parts[i]):
            return False
    return len(p_parts) == len(s_parts)


_sequence = itertools.count(1)


@dataclass
class _Message:
    subject: str
    data: bytes
    attempt: int = 0
    acked: asyncio.Future | None = None
    seq: int = field(default_factory=lambda: next(_sequence))


class _MemoryDelivery(Delivery):
    def __init__(self, consumer: _Consumer, message: _Message) -> None:
        self._consumer, self._message = consumer, message
        self.subject, self.data, self.attempt = message.subject, message.data, message.attempt
        self.message_id = str(message.seq)

    async def ack(self) -> None:
        self._consumer.settle(self._message)

    async def nak(self, delay_s: float = 0.0) -> None:
        self._consumer.redeliver(self._message, delay_s)

    async def in_progress(self) -> None:
        self._consumer.touch(self._message)


@dataclass
class _Consumer(Subscription):
    bus: MemoryBus
    subject: str
    queue: str
    handler: WorkHandler
    concurrency: int
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    deadlines: dict[int, float] = field(default_factory=dict)
    held: dict[int, _Message] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run()) for _ in range(self.concurrency)]
        self.tasks.append(asyncio.create_task(self._watch_deadlines()))

    async def _run(self) -> None:
        while True:
            message: _Message = await self.inbox.get()
            message.attempt += 1
            key = id(message)
            self.held[key] = message
            self.deadlines[key] = time.monotonic() + self.bus.ack_wait_s
            try:
                await self.handler(_MemoryDelivery(self, message))
            except asyncio.CancelledError:
                raise
            except Exception:  # the handler died without acking: like a dead worker
                log.exception("consumer %s failed on %s", self.queue, message.subject)

    async def _watch_deadlines(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.bus.ack_wait_s / 4))
            now = time.monotonic()
            for key, deadline in list(self.deadlines.items()):
                if deadline <= now:
                    self.redeliver(self.held[key], 0.0)

    def settle(self, message: _Message) -> None:
        self.held.pop(id(message), None)
        self.deadlines.pop(id(message), None)
        if message.acked is not None and not message.acked.done():
            message.acked.set_result(None)

    def touch(self, message: _Message) -> None:
        if id(message) in self.deadlines:
            self.deadlines[id(message)] = time.monotonic() + self.bus.ack_wait_s

    def redeliver(self, message: _Message, delay_s: float) -> None:
        if self.held.pop(id(message), None) is None:
            return
        self.deadlines.pop(id(message), None)
        loop = asyncio.get_running_loop()
        loop.call_later(delay_s, self.inbox.put_nowait, message)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(ValueError):
            self.bus._consumers.remove(self)


@dataclass
class _TokenLog:
    """What the bus stores of one token subject: its messages in order, the readers replaying it."""

    created: float
    messages: list[bytes] = field(default_factory=list)
    size: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    readers: int = 0
    released: bool = False


class _LiveSubscription(Subscription):
    def __init__(self, bus: MemoryBus, entry: tuple[str, Handler]) -> None:
        self._bus, self._entry = bus, entry

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._bus._live.remove(self._entry)


class MemoryBus(Bus):
    def __init__(
        self,
        prefix: str = "pluggably",
        *,
        ack_wait_s: float = 30.0,
        max_payload: int = MAX_PAYLOAD,
        tokens_max_age_s: float = TOKENS_MAX_AGE_S,
        tokens_max_subjects: int = TOKENS_MAX_SUBJECTS,
        tokens_max_bytes: int = TOKENS_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(prefix, max_payload)
        self.ack_wait_s = ack_wait_s
        self.tokens_max_age_s, self.tokens_max_subjects = tokens_max_age_s, tokens_max_subjects
        self.tokens_max_bytes, self._clock = tokens_max_bytes, clock
        self._live: list[tuple[str, Handler]] = []
        self._consumers: list[_Consumer] = []
        self._backlog: list[_Message] = []  # work published before any consumer existed
        self._seen: OrderedDict[str, float] = OrderedDict()
        #: Token subjects in creation order (a dict keeps insertion order): expiry pops from the front.
        self._tokens: dict[str, _TokenLog] = {}
        self._token_bytes = 0
        self._ids = itertools.count()

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        self._live.clear()

    def _duplicate(self, msg_id: str | None) -> bool:
        if msg_id is None:
            return False
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - DEDUP_WINDOW_S:
            self._seen.popitem(last=False)
        if msg_id in self._seen:
            return True
        self._seen[msg_id] = now
        return False

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        self.check_size(subject, data)
        if self._duplicate(msg_id):
            return
        if subject.startswith("tokens."):
            self._store_token(subject, data)
        waits: list[asyncio.Future] = []
        takers = [c for c in self._consumers if matches(c.subject, subject)]
        if subject.startswith("work."):
            if takers:
                takers[0].inbox.put_nowait(_Message(subject, data))
            else:
                self._backlog.append(_Message(subject, data))
        else:
            loop = asyncio.get_running_loop()
            for consumer in takers:
                acked = loop.create_future()
                waits.append(acked)
                consumer.inbox.put_nowait(_Message(subject, data, acked=acked))
        await self._deliver_live(subject, data)
        if subject.startswith("events."):
            # Durable consumers of events have the message before the publisher moves on, so the relay's
            # tracked position never runs ahead of what the (in-process) consumers hold.
            await asyncio.gather(*waits)

    async def _deliver_live(self, subject: str, data: bytes) -> None:
        for pattern, handler in list(self._live):
            if matches(pattern, subject):
                try:
                    await handler(subject, data)
                except Exception:
                    log.exception("subscriber of %s failed", subject)

    async def publish_signal(self, subject: str, data: bytes = b"") -> None:
        self.check_size(subject, data)
        await self._deliver_live(subject, data)

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        entry = (subject, handler)
        self._live.append(entry)
        return _LiveSubscription(self, entry)

    async def consume(self, subject: str, queue: str, handler: WorkHandler, *, concurrency: int = 4) -> Subscription:
        consumer = _Consumer(self, subject, queue, handler, concurrency)
        self._consumers.append(consumer)
        for message in [m for m in self._backlog if matches(subject, m.subject)]:
            self._backlog.remove(message)
            consumer.inbox.put_nowait(message)
        consumer.start()
        return consumer

    def _store_token(self, subject: str, data: bytes) -> None:
        """Append to the subject's log: O(1) whatever the number of subjects stored (the oldest go first)."""
        now = self._clock()
        log_ = self._tokens.get(subject)
        if log_ is None:
            log_ = self._tokens[subject] = _TokenLog(now)
        log_.messages.append(data)
        log_.size += len(data)
        self._token_bytes += len(data)
        log_.changed.set()
        self._evict(now)

    def _evict(self, now: float) -> None:
        """Drop the oldest subjects while they are past the max age or the store is over its bounds. A subject
        someone is replaying is kept (moved to the back) until its last reader stops."""
        cutoff = now - self.tokens_max_age_s
        for _ in range(len(self._tokens)):
            subject = next(iter(self._tokens))
            oldest = self._tokens[subject]
            over = len(self._tokens) > self.tokens_max_subjects or self._token_bytes > self.tokens_max_bytes
            if not over and oldest.created >= cutoff:
                return
            if oldest.readers:
                del self._tokens[subject]
                self._tokens[subject] = oldest
            else:
                self._drop(subject)

    def _drop(self, subject: str) -> None:
        log_ = self._tokens.pop(subject, None)
        if log_ is not None:
            self._token_bytes -= log_.size

    async def release(self, subject: str) -> None:
        log_ = self._tokens.get(subject)
        if log_ is None:
            return
        if log_.readers:
            log_.released = True  # dropped when its last reader stops
        else:
            self._drop(subject)

    async def replay(self, subject: str) -> AsyncIterator[bytes]:
        log_ = self._tokens.get(subject)
        if log_ is None:  # nothing published yet: wait for the first message (dropped again if none comes)
            log_ = self._tokens[subject] = _TokenLog(self._clock())
        log_.readers += 1
        index = 0
        try:
            while True:
                while index < len(log_.messages):
                    yield log_.messages[index]
                    index += 1
                log_.changed.clear()
                await log_.changed.wait()
        finally:
            log_.readers -= 1
            if log_.released and not log_.readers and self._tokens.get(subject) is log_:
                self._drop(subject)

    async def pending(self, subject: str, queue: str) -> int:
        backlog = sum(1 for m in self._backlog if matches(subject, m.subject))
        return backlog + sum(c.inbox.qsize() + len(c.held) for c in self._consumers if c.queue == queue)

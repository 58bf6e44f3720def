"""The bus on NATS JetStream: streams ``<P>_EVENTS``, ``<P>_WORK`` (work-queue retention), ``<P>_TOKENS``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from infra.bus.base import MAX_PAYLOAD, Bus, Delivery, Handler, Subscription, WorkHandler

log = logging.getLogger(__name__)


class _NatsDelivery(Delivery):
    def __init__(self, bus: NatsBus, msg: nats.aio.msg.Msg) -> None:
        self._msg = msg
        self.subject = bus.strip(msg.subject)
        self.data = msg.data
        self.attempt = msg.metadata.num_delivered if msg.metadata else 1
        self.message_id = str(msg.metadata.sequence.stream) if msg.metadata else msg.reply

    async def ack(self) -> None:
        await self._msg.ack_sync()

    async def nak(self, delay_s: float = 0.0) -> None:
        await self._msg.nak(delay=delay_s or None)

    async def in_progress(self) -> None:
        await self._msg.in_progress()


class _Task(Subscription):
    def __init__(self, task: asyncio.Task[None], sub: Any) -> None:
        self._task, self._sub = task, sub

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


class _Live(Subscription):
    def __init__(self, sub: Any) -> None:
        self._sub = sub

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


class NatsBus(Bus):
    def __init__(
        self, url: str, prefix: str = "pluggably", *, ack_wait_s: float = 30.0, max_payload: int = MAX_PAYLOAD
    ) -> None:
        super().__init__(prefix, max_payload)
        self.url = url
        self.ack_wait_s = ack_wait_s
        stem = re.sub(r"[^A-Za-z0-9]", "_", prefix).upper()
        self.streams = {"events": f"{stem}_EVENTS", "work": f"{stem}_WORK", "tokens": f"{stem}_TOKENS"}
        self._nc_: nats.NATS | None = None
        self._subs: list[Subscription] = []

    async def connect(self) -> None:
        self._nc_ = await nats.connect(self.url, max_reconnect_attempts=-1, name=f"pluggably:{self.prefix}")
        self.max_payload = min(self.max_payload, self._nc.max_payload)  # the server's limit, when it is lower
        self._js = self._nc.jetstream()
        configs = [
            api.StreamConfig(
                name=self.streams["events"],
                subjects=[self.subject("events.>")],
                retention=api.RetentionPolicy.LIMITS,
                max_age=30 * 86400,
                duplicate_window=120,
            ),
            api.StreamConfig(
                name=self.streams["work"],
                subjects=[self.subject("work.>")],
                retention=api.RetentionPolicy.WORK_QUEUE,
                duplicate_window=120,
            ),
            api.StreamConfig(
                name=self.streams["tokens"],
                subjects=[self.subject("tokens.>")],
                retention=api.RetentionPolicy.LIMITS,
                max_age=600,
                duplicate_window=60,
            ),
        ]
        for config in configs:
            try:
                await self._js.stream_info(config.name)
            except NotFoundError:
                await self._js.add_stream(config)
            # a stream that exists is kept as the operator set it (replicas, storage, sync)

    @property
    def _nc(self) -> nats.NATS:
        if self._nc_ is None:
            raise RuntimeError("the NATS bus is not connected: call connect() first")
        return self._nc_

    async def close(self) -> None:
        for sub in self._subs:
            await sub.stop()
        self._subs.clear()
        if self._nc_ is not None and not self._nc_.is_closed:
            with contextlib.suppress(Exception):
                await self._nc_.drain()
            self._nc_ = None

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        self.check_size(subject, data)
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        if subject.startswith("tokens."):
            # Token streams are disposable (the outcome is in the event store): the stream still stores them,
            # but the publisher does not wait for JetStream's acknowledgement on every token.
            await self._nc.publish(self.subject(subject), data, headers=headers)
            return
        await self._js.publish(self.subject(subject), data, headers=headers)

    async def publish_signal(self, subject: str, data: bytes = b"") -> None:
        self.check_size(subject, data)
        await self._nc.publish(self.subject(subject), data)

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        async def on_message(msg: nats.aio.msg.Msg) -> None:
            try:
                await handler(self.strip(msg.subject), msg.data)
            except Exception:
                log.exception("subscriber of %s failed", msg.subject)

        return _Live(await self._nc.subscribe(self.subject(subject), cb=on_message))

    async def consume(self, subject: str, queue: str, handler: WorkHandler, *, concurrency: int = 4) -> Subscription:
        stream = self.streams[subject.split(".", 1)[0]]
        config = api.ConsumerConfig(
            durable_name=queue,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_ack_pending=max(64, concurrency * 4),
            filter_subject=self.subject(subject),
        )
        sub = await self._js.pull_subscribe(self.subject(subject), durable=queue, stream=stream, config=config)
        busy = 0
        idle = asyncio.Condition()

        async def run_one(msg: nats.aio.msg.Msg) -> None:
            nonlocal busy
            try:
                await handler(_NatsDelivery(self, msg))
            except Exception:
                log.exception("consumer %s failed on %s", queue, msg.subject)
            finally:
                async with idle:
                    busy -= 1
                    idle.notify()

        def has_room() -> bool:
            return busy < concurrency

        async def loop() -> None:
            nonlocal busy
            running: set[asyncio.Task[None]] = set()
            while True:
                async with idle:
                    await idle.wait_for(has_room)
                    free = concurrency - busy
                try:
                    msgs = await sub.fetch(batch=free, timeout=1.0)
                except (TimeoutError, NatsTimeout):
                    continue
                except Exception:
                    log.exception("fetch from %s failed", queue)
                    await asyncio.sleep(0.5)
                    continue
                busy += len(msgs)
                for msg in msgs:
                    task = asyncio.create_task(run_one(msg))
                    running.add(task)
                    task.add_done_callback(running.discard)

        consumer = _Task(asyncio.create_task(loop()), sub)
        self._subs.append(consumer)
        return consumer

    async def replay(self, subject: str) -> AsyncIterator[bytes]:
        sub = await self._js.subscribe(
            self.subject(subject),
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.ALL,
            stream=self.streams["tokens"],
        )
        try:
            async for msg in sub.messages:
                yield msg.data
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def pending(self, subject: str, queue: str) -> int:
        stream = self.streams[subject.split(".", 1)[0]]
        try:
            info = await self._js.consumer_info(stream, queue)
        except NotFoundError:
            return 0
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def healthy(self) -> bool:
        return self._nc_ is not None and self._nc_.is_connected

"""The bus interface. Subjects are given without the deployment prefix (``work.generate.openai``).

Three streams, as in the architecture: ``events.>`` (every domain event, deduplicated by event id),
``work.>`` (work queues: one consumer per queue takes each message, explicit ack, redelivery after
``ack_wait``), ``tokens.>`` (short-lived token streams, replayable from the start). ``control.>`` is plain
pub/sub. The bus is transport, never the record: everything on it can be rebuilt from the event store.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable

#: What a message may be at most: NATS's default ``max_payload`` (1 MiB), the bound of the in-process bus too.
MAX_PAYLOAD = 1024 * 1024
#: Kept free under the bound for the message's headers (its id).
HEADROOM = 1024


class PayloadTooLarge(ValueError):
    """A message over the bus's payload limit: it must travel by reference (the event store, the artifact store)."""


class Delivery(ABC):
    """A message taken from a work queue or a durable consumer."""

    subject: str
    data: bytes
    attempt: int  # the bus's count of deliveries; NATS may restart it at 1 after a failed delivery: informational
    message_id: str  # the message's identity, the same on every redelivery of it (never another message's)

    @abstractmethod
    async def ack(self) -> None: ...

    @abstractmethod
    async def nak(self, delay_s: float = 0.0) -> None: ...

    @abstractmethod
    async def in_progress(self) -> None:
        """Tell the bus the work is still being done (resets the redelivery timer)."""


async def keep_alive(delivery: Delivery, every_s: float) -> None:
    """Tell the bus, every ``every_s``, that ``delivery`` is still being worked on (run it as a task; cancel it)."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await delivery.in_progress()


class Subscription(ABC):
    @abstractmethod
    async def stop(self) -> None: ...


Handler = Callable[[str, bytes], Awaitable[None]]
WorkHandler = Callable[[Delivery], Awaitable[None]]


class Bus(ABC):
    def __init__(self, prefix: str, max_payload: int = MAX_PAYLOAD) -> None:
        self.prefix = prefix
        self.max_payload = max_payload

    @property
    def room(self) -> int:
        """The most a message's body may take (the payload limit less room for headers): encoders aim under it."""
        return self.max_payload - HEADROOM

    def check_size(self, subject: str, data: bytes) -> None:
        if len(data) > self.room:
            raise PayloadTooLarge(
                f"a {len(data)}-byte message on {subject} is over the bus's {self.room}-byte limit; "
                "large payloads travel by reference"
            )

    def subject(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def strip(self, subject: str) -> str:
        return subject[len(self.prefix) + 1 :]

    async def connect(self) -> None:
        """Connect and make sure the streams exist."""

    async def close(self) -> None:
        """Stop every consumer and disconnect."""

    @abstractmethod
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        """Publish durably on ``events.*``, ``work.*`` or ``tokens.*``; ``msg_id`` deduplicates. A message over
        ``room`` raises ``PayloadTooLarge`` on every bus."""

    @abstractmethod
    async def publish_signal(self, subject: str, data: bytes = b"") -> None:
        """Fire-and-forget publish for ``control.*`` and other plain pub/sub subjects."""

    @abstractmethod
    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        """Live, non-durable subscription (wildcards ``*`` and ``>``). Sees durable publishes too."""

    @abstractmethod
    async def consume(self, subject: str, queue: str, handler: WorkHandler, *, concurrency: int = 4) -> Subscription:
        """Durable consumer ``queue`` on ``subject``: each message goes to one handler; ack or it comes back."""

    @abstractmethod
    def replay(self, subject: str) -> AsyncIterator[bytes]:
        """Every message stored on ``subject`` (a ``tokens.<id>`` subject) from the start, then live ones."""

    async def release(self, subject: str) -> None:
        """Nobody will replay the token subject ``subject`` (its generation answered without a stream): the bus may
        drop what it stores of it, once its current readers are done. NATS keeps it until the stream's max age."""

    @abstractmethod
    async def pending(self, subject: str, queue: str) -> int:
        """Messages waiting for (or held by) consumer ``queue``: the work queue depth."""

    async def healthy(self) -> bool:
        return True

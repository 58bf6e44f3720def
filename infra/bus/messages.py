"""What travels on the bus: every subject and message shape, with its encoding, in one place.

Subjects are given without the deployment prefix (the bus adds it).

| subject | message | who publishes it |
| --- | --- | --- |
| ``work.generate.<runtime>`` | :class:`GenerateWork` | the API (message id: the generation id), the sweeper |
| ``work.download`` | :class:`DownloadWork` | the API (message id: the job id), the sweeper |
| ``tokens.<generation or job id>`` | :class:`StreamEvent` | the workers (the API for a job cancelled while queued) |
| ``control.cancel.<generation or job id>`` | an empty cancel signal (core NATS, not stored) | the API |
| ``events.<Aggregate>.<Event>`` | :class:`RelayedEvent` (message id: :attr:`RelayedEvent.id`) | the relay |

JSON on the wire; the formats are documented in ``docs/architecture/events.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from infra.bus.base import Bus

# -- subjects and queues --------------------------------------------------------------------------------------

DOWNLOAD_SUBJECT = "work.download"
DOWNLOAD_QUEUE = "download"
CANCEL_SUBJECTS = "control.cancel.*"


def work_subject(runtime: str) -> str:
    return f"work.generate.{runtime}"


def queue_name(runtime: str) -> str:
    return f"generate_{runtime}"


def token_subject(item_id: str) -> str:
    return f"tokens.{item_id}"


def cancel_subject(item_id: str) -> str:
    return f"control.cancel.{item_id}"


def cancelled_id(subject: str) -> str:
    """The generation or job id a cancel signal's subject names."""
    return subject.rsplit(".", 1)[-1]


def events_subject(type_name: str) -> str:
    """``events.<Aggregate>.<Event>`` of an event type name (``Generation.Completed``), or ``events.User.>`` for
    every event of an aggregate (``User.>``)."""
    return f"events.{type_name}"


def swept_message_id(item_id: str, reason: str, at: float) -> str:
    """A fresh message id for work published again (``sweep``, ``resume``), so the bus does not drop it."""
    return f"{item_id}:{reason}:{int(at)}"


# -- work -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenerateWork:
    """Run a generation; everything else the worker needs is in ``Generation.Requested``. ``resume``: take it over
    even when it is recorded as running (the embedded start-up: its previous process died with the bus)."""

    generation_id: str
    resume: bool = False

    def encode(self) -> bytes:
        return _encode({"generation_id": self.generation_id, **({"resume": True} if self.resume else {})})

    @classmethod
    def decode(cls, data: bytes) -> GenerateWork:
        payload = json.loads(data)
        return cls(payload["generation_id"], bool(payload.get("resume")))


@dataclass(frozen=True, slots=True)
class DownloadWork:
    """Run a download job (``DownloadJob.Requested`` holds its plan); ``resume`` as for :class:`GenerateWork`."""

    job_id: str
    resume: bool = False

    def encode(self) -> bytes:
        return _encode({"job_id": self.job_id, **({"resume": True} if self.resume else {})})

    @classmethod
    def decode(cls, data: bytes) -> DownloadWork:
        payload = json.loads(data)
        return cls(payload["job_id"], bool(payload.get("resume")))


# -- stream events --------------------------------------------------------------------------------------------

TOKEN, PROGRESS, DONE, ERROR = "token", "progress", "done", "error"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One numbered event of a generation's or a job's stream: ``token`` (``{"text"}``), ``progress``, then
    ``done`` (the answer) or ``error`` (the error body). ``i`` counts from 1; 0 marks an outcome rebuilt from the
    event store, which goes out without an SSE ``id:``."""

    i: int
    event: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.event in (DONE, ERROR)

    def encode(self) -> bytes:
        return _encode({"i": self.i, "event": self.event, "data": self.data})

    @classmethod
    def decode(cls, data: bytes) -> StreamEvent:
        payload = json.loads(data)
        return cls(payload["i"], payload["event"], payload["data"])


#: The data of a ``done`` or ``error`` event too large for the bus: the outcome is read from the event store.
STORED = {"stored": True}


def by_reference(event: StreamEvent) -> bool:
    """Whether the event's data is in the event store (:data:`STORED`) rather than in the message."""
    return event.terminal and event.data.get("stored") is True


class TokenStream:
    """The numbered events of one generation (or download job) on its token subject, from ``first``.

    Nothing larger than the bus takes is sent: a long ``token`` goes as several (the text is the same), a ``done``
    or ``error`` too large for a message (a long answer, inline images) goes as :data:`STORED` (by reference)."""

    def __init__(self, bus: Bus, item_id: str, first: int = 1) -> None:
        self.bus, self.subject, self.index = bus, token_subject(item_id), first - 1

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.index += 1
        encoded = StreamEvent(self.index, event, data).encode()
        if len(encoded) > self.bus.room:
            if event == TOKEN and len(data.get("text", "")) > 1:
                self.index -= 1
                text, piece = data["text"], max(1, self.bus.room // 16)  # ≤ 12 bytes a character once escaped
                for start in range(0, len(text), piece):
                    await self.send(TOKEN, {**data, "text": text[start : start + piece]})
                return
            encoded = StreamEvent(self.index, event, STORED).encode()
        await self.bus.publish(self.subject, encoded)

    async def release(self) -> None:
        """The stream is over and nobody will replay it: the bus may drop it (``Bus.release``)."""
        await self.bus.release(self.subject)


# -- relayed domain events ------------------------------------------------------------------------------------

#: Attributes of a stored event that are the library's, not the event's own fields.
SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic"}
#: Derived from secrets: kept in the event store, never sent to bus subscribers or shown in audit trails.
REDACTED = {"password_hash", "key_hash", "ciphertext"}


def event_type(event: Any) -> str:
    """``<Aggregate>.<Event>`` of a domain event (its class's qualified name)."""
    return type(event).__qualname__


def event_data(event: Any) -> dict[str, Any]:
    """A domain event's own fields, without the redacted ones."""
    return {k: v for k, v in event.__dict__.items() if k not in SKIP and k not in REDACTED and not k.startswith("_")}


@dataclass(frozen=True, slots=True)
class RelayedEvent:
    """A stored domain event as the relay publishes it on ``events.<type>``. ``id`` is ``<aggregate id>:<version>``:
    unique per event and the same on every re-send, so consumers deduplicate on it.

    An event larger than the bus takes travels by reference: its largest fields are left out (``omitted`` names
    them) until it fits; a consumer that needs them reads the event from the event store (its aggregate id and
    version)."""

    id: str
    type: str
    aggregate_id: str
    version: int
    timestamp: str
    data: dict[str, Any]
    omitted: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return events_subject(self.type)

    @classmethod
    def of(cls, event: Any) -> RelayedEvent:
        return cls(
            id=f"{event.originator_id}:{event.originator_version}",
            type=event_type(event),
            aggregate_id=str(event.originator_id),
            version=event.originator_version,
            timestamp=event.timestamp.isoformat(),
            data=event_data(event),
        )

    def encode(self, max_bytes: int | None = None) -> bytes:
        """The JSON of the event; within ``max_bytes`` (by reference) when given."""
        envelope: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "timestamp": self.timestamp,
            "data": self.data,
        }
        if self.omitted:
            envelope["omitted"] = list(self.omitted)
        encoded = json.dumps(envelope, default=json_default).encode()
        if max_bytes is None or len(encoded) <= max_bytes:
            return encoded
        sizes = {name: len(json.dumps(value, default=json_default)) for name, value in self.data.items()}
        kept, omitted = dict(self.data), list(self.omitted)
        for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
            del kept[name]
            omitted.append(name)
            encoded = json.dumps({**envelope, "data": kept, "omitted": omitted}, default=json_default).encode()
            if len(encoded) <= max_bytes:
                return encoded
        return encoded  # only the envelope is left: it fits any bus

    @classmethod
    def decode(cls, data: bytes) -> RelayedEvent:
        payload = json.loads(data)
        return cls(
            payload["id"],
            payload["type"],
            payload["aggregate_id"],
            payload["version"],
            payload["timestamp"],
            payload["data"],
            tuple(payload.get("omitted", ())),
        )


def json_default(value: Any) -> Any:
    """How the values of stored events that JSON lacks are written: datetimes ISO 8601, UUIDs and sets plainly."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()  # the shared encoder: no per-call set-up on the hot path

"""The generation use case: submit → publish work → wait for the outcome, streamed or not.

One module, three seams, each one step of a request (and the place to change that step):

1. ``Generations.submit``: resolve the requested models into runtime targets (the in-memory catalogue), check the
   credential and the parameters (each target runtime's options), then record ``Generation.Requested``: one trip
   to the thread pool, the only write.
2. ``Generations.follow`` → :class:`Run`: subscribe to the generation's token stream, then publish its work, so no
   event can be missed.
3. ``Run.events`` / ``Run.outcome``: the stream events as the worker publishes them (no polling), or only the last
   one; when the bus stays silent past the request timeout, the outcome stored in the event store (the bus is
   transport, never the record).

Every surface (``/v1/generate``, sessions, the OpenAI-compatible adapter, ...) turns its request into a
:class:`Generate` and answers from the :class:`~infra.bus.messages.StreamEvent` it gets back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from commands.responses import generation_response
from commands.service import Gateway
from domain.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProviderNotConfigured,
    StillRunning,
    error_from_code,
)
from domain.generations import COMPLETED, TERMINAL, Generation
from infra.bus.base import Bus, Subscription
from infra.bus.messages import (
    DONE,
    ERROR,
    TOKEN,
    GenerateWork,
    StreamEvent,
    by_reference,
    cancel_subject,
    token_subject,
    work_subject,
)
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.generations import get_generation
from runtimes.catalog import Catalog
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry
from services.auth import Principal
from services.freshness import Freshness

REPLAY_QUIET_S = 1.0  # a finished generation's stream that has nothing more within this is over


@dataclass(frozen=True)
class Generate:
    """A request to generate, whichever surface it came through. ``models`` in fallback order; ``[None]`` asks for
    the modality's default local model (or, in a session, the session's model)."""

    modality: str
    messages: list[dict[str, str]]
    models: list[str | None] = field(default_factory=lambda: [None])
    parameters: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


class Generations:
    def __init__(
        self,
        app: Gateway,
        bus: Bus,
        db: SqlDatabase,
        registry: RuntimeRegistry,
        catalog: Catalog,
        credentials: CredentialResolver,
        threads: Threads,
        freshness: Freshness,
        timeout_s: float,
        max_input_bytes: int,
    ) -> None:
        self.app, self.bus, self.db, self.registry, self.catalog = app, bus, db, registry, catalog
        self.credentials, self.threads, self.freshness, self.timeout_s = credentials, threads, freshness, timeout_s
        self.max_input_bytes = max_input_bytes

    def check_size(self, order: Generate) -> None:
        """A request's input text is bounded (``LLM_API_MAX_INPUT_BYTES``): a 413 beyond it."""
        size = 0
        for message in order.messages:
            text = message["content"]
            size += len(text) if text.isascii() else len(text.encode())
        if size > self.max_input_bytes:
            raise PayloadTooLarge(
                f"The input is {size} bytes of text; this gateway takes at most {self.max_input_bytes} "
                "(LLM_API_MAX_INPUT_BYTES).",
                param="input",
            )

    # -- 1. submit ---------------------------------------------------------------------------------------------

    def targets(self, who: Principal, order: Generate, session_model: str | None = None) -> list[dict[str, str]]:
        """One ``{"model", "runtime", "location"}`` per requested model, each usable by the caller."""
        providers = set(self.registry.names())
        local = self.registry.local()
        requested = order.models if order.models != [None] or session_model is None else [session_model]
        targets = []
        for model in requested:
            target = self.catalog.resolve(model, order.modality, providers, local)
            runtime = self.registry.get(target["runtime"])
            if order.modality not in runtime.modalities:
                raise InvalidRequest(
                    f"{target['model']} does not do {order.modality}; it does {', '.join(sorted(runtime.modalities))}.",
                    param="modality",
                )
            provider = target["runtime"]
            if runtime.needs_credential and self.credentials.resolve(who.user_id, provider) is None:
                raise ProviderNotConfigured(
                    f"No {provider} credential: save yours under Profile (PUT /v1/me/credentials/{provider}) "
                    f"or ask the operator to set {runtime.key_setting()}.",
                    param="model",
                )
            targets.append(target)
        return targets

    def parameters(self, order: Generate, targets: list[dict[str, str]]) -> dict[str, Any]:
        """The parameters as every target's runtime accepts them (``Runtime.validate``); the first one's reading is
        stored."""
        checked = [
            self.registry.get(t["runtime"]).validate(order.modality, order.parameters, t["location"]) for t in targets
        ]
        return checked[0]

    async def submit(self, who: Principal, order: Generate, session_id: str | None = None) -> Generation:
        """Check the request and record it (``Generation.Requested``; in a session with the new messages)."""
        self.check_size(order)
        session_model = None
        if session_id is not None:
            session = await self.threads.run(self.app.get_session, session_id, who.user_id)
            session_model = session.model
        targets = self.targets(who, order, session_model)
        parameters = self.parameters(order, targets)
        return await self.threads.run(
            self.app.request_generation,
            owner_id=who.user_id,
            key_id=who.key_id,
            session_id=session_id,
            modality=order.modality,
            targets=targets,
            messages=order.messages,
            parameters=parameters,
            stream=order.stream,
        )

    # -- 2. publish the work, following its stream -------------------------------------------------------------

    def follow(self, generation: Generation) -> Run:
        """``async with generations.follow(generation) as run``: subscribed, then the work published."""
        return Run(self, generation)

    # -- 3. the outcome from the record ------------------------------------------------------------------------

    async def stored_outcome(self, gid: str) -> StreamEvent:
        """The terminal event rebuilt from the event store (``i`` 0)."""
        generation = await self.threads.run(self.app.get_generation, gid)
        if generation.status == COMPLETED:
            assert generation.result is not None
            return StreamEvent(0, DONE, generation_response(gid, generation.modality, generation.result))
        if generation.error is not None:
            error = error_from_code(
                generation.error["code"], generation.error["message"], retry_after=generation.error.get("retry_after")
            )
            return StreamEvent(0, ERROR, error.body(gid))
        still = StillRunning(f"Still {generation.status}; follow it with GET /v1/generations/{gid}.")
        return StreamEvent(0, ERROR, still.body(gid))

    async def resolved(self, gid: str, event: StreamEvent) -> StreamEvent:
        """The event as the client gets it: an outcome sent by reference (too large for the bus) read from the
        event store, under its own number."""
        if not by_reference(event):
            return event
        stored = await self.stored_outcome(gid)
        return StreamEvent(event.i, stored.event, stored.data)

    # -- the other use cases of a generation -------------------------------------------------------------------

    async def get(self, who: Principal, gid: str) -> dict[str, Any]:
        await self.freshness.wait()
        row = await self.threads.run(get_generation, self.db, who.user_id, gid)
        if row is None:
            raise NotFound(f"No generation {gid}.")
        return row

    async def cancel(self, who: Principal, gid: str) -> Generation:
        generation = await self.threads.run(self.app.cancel_generation, gid, who.user_id)
        await self.bus.publish_signal(cancel_subject(gid))
        return generation

    async def replay(self, who: Principal, gid: str) -> AsyncIterator[StreamEvent]:
        """The generation's events again, from the start: the stored token stream, and a finished generation whose
        stream expired rebuilt from its events. Checks the caller may see it before anything is streamed."""
        generation = await self.threads.run(self.app.get_generation, gid, who.user_id)
        return self._replay(gid, generation.status in TERMINAL)

    async def _replay(self, gid: str, terminal: bool) -> AsyncIterator[StreamEvent]:
        source = self.bus.replay(token_subject(gid))
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(anext(source), REPLAY_QUIET_S if terminal else self.timeout_s)
                except TimeoutError:
                    async for event in self._rebuilt(gid, terminal):
                        yield event
                    return
                event = await self.resolved(gid, StreamEvent.decode(raw))
                yield event
                if event.terminal:
                    return
        finally:
            await source.aclose()  # type: ignore[attr-defined]

    async def _rebuilt(self, gid: str, terminal: bool) -> AsyncIterator[StreamEvent]:
        outcome = await self.stored_outcome(gid)
        if outcome.event == DONE and terminal:
            text = outcome.data["output"].get("text")
            if text:
                yield StreamEvent(1, TOKEN, {"text": text})
            outcome = StreamEvent(2 if text else 1, DONE, outcome.data)
        yield outcome


class Run:
    """The live events of one generation, subscribed to before its work is published."""

    def __init__(self, generations: Generations, generation: Generation) -> None:
        self.generations, self.generation = generations, generation
        self.gid = str(generation.id)
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._sub: Subscription | None = None

    @property
    def model(self) -> str:
        return self.generation.model

    async def __aenter__(self) -> Run:
        bus = self.generations.bus

        async def on_event(subject: str, data: bytes) -> None:
            self.queue.put_nowait(StreamEvent.decode(data))

        self._sub = await bus.subscribe(token_subject(self.gid), on_event)
        await bus.publish(
            work_subject(self.generation.targets[0]["runtime"]), GenerateWork(self.gid).encode(), msg_id=self.gid
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.stop()

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Events until ``done`` or ``error``; on a silent bus past the request timeout, the stored outcome."""
        while True:
            try:
                event = await asyncio.wait_for(self.queue.get(), self.generations.timeout_s)
            except TimeoutError:
                yield await self.generations.stored_outcome(self.gid)
                return
            event = await self.generations.resolved(self.gid, event)
            yield event
            if event.terminal:
                return

    async def outcome(self) -> StreamEvent:
        """The terminal event: ``done`` (its data is the answer) or ``error`` (its data the error body)."""
        async for event in self.events():
            if event.terminal:
                return event
        raise AssertionError("the event stream ended without an outcome")

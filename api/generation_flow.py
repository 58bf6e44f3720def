"""From a validated request to a recorded generation, its work on the bus, and its events back.

The request waits on a live subscription to the generation's token subject (no polling): it subscribes
before publishing the work, so no event can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from api.auth import Principal
from api.bootstrap import Container
from api.schemas import DEFAULT_PARAMETERS, GenerateIn, check_parameters
from commands.responses import error_object, generation_response
from domain.errors import InvalidRequest, ProviderNotConfigured
from domain.generations import COMPLETED, Generation
from infra.bus.subjects import token_subject, work_subject
from runtimes.credentials import env_var


def resolve_targets(c: Container, owner_id: str, body: GenerateIn, session_model: str | None) -> list[dict]:
    providers = set(c.registry.names())
    local = c.local_runtimes()
    targets = []
    models = body.models if body.model is not None or session_model is None else [session_model]
    for model in models:
        target = c.catalog.resolve(model, body.modality, providers, local)
        runtime = c.registry.get(target["runtime"])
        if body.modality not in runtime.modalities:
            raise InvalidRequest(f"{target['model']} does not do {body.modality}; it does "
                                 f"{', '.join(sorted(runtime.modalities))}.", param="modality")
        if runtime.needs_credential and c.credentials.resolve(owner_id, target["runtime"]) is None:
            provider = target["runtime"]
            raise ProviderNotConfigured(
                f"No {provider} credential: save yours under Profile (PUT /v1/me/credentials/{provider}) "
                f"or ask the operator to set {env_var(provider)}.", param="model")
        targets.append(target)
    return targets


def accepted_parameters(c: Container, modality: str, targets: list[dict]) -> frozenset[str]:
    accepted = DEFAULT_PARAMETERS[modality]
    for target in targets:
        declared = c.registry.get(target["runtime"]).parameters.get(modality)
        if declared is not None:
            accepted = accepted & declared
    return accepted


async def submit(c: Container, who: Principal, body: GenerateIn, session_id: str | None = None) -> Generation:
    session_model = None
    if session_id is not None:
        session = await c.run(c.app.get_session, session_id, who.user_id)
        session_model = session.model
    targets = resolve_targets(c, who.user_id, body, session_model)
    parameters = check_parameters(body.modality, body.parameters, accepted_parameters(c, body.modality, targets))
    for target in targets:
        c.registry.get(target["runtime"]).validate(body.modality, parameters, target["location"])
    return await c.run(c.app.request_generation, owner_id=who.user_id, key_id=who.key_id, session_id=session_id,
                       modality=body.modality, targets=targets, messages=body.input.as_messages(),
                       parameters=parameters, stream=body.stream)


class Watch:
    """The live events of one generation, subscribed to before its work is published."""

    def __init__(self, c: Container, generation: Generation) -> None:
        self.c, self.generation = c, generation
        self.gid = str(generation.id)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sub: Any = None

    async def __aenter__(self) -> Watch:
        async def on_event(subject: str, data: bytes) -> None:
            self.queue.put_nowait(json.loads(data))

        self._sub = await self.c.bus.subscribe(token_subject(self.gid), on_event)
        await self.c.bus.publish(work_subject(self.generation.targets[0]["runtime"]),
                                 json.dumps({"generation_id": self.gid}).encode(), msg_id=self.gid)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with contextlib.suppress(Exception):
            await self._sub.stop()

    async def events(self, timeout: float) -> AsyncIterator[dict[str, Any]]:
        """Events until ``done`` or ``error``; on a silent bus past ``timeout``, the stored outcome."""
        while True:
            try:
                event = await asyncio.wait_for(self.queue.get(), timeout)
            except asyncio.TimeoutError:
                yield await stored_outcome(self.c, self.gid)
                return
            yield event
            if event["event"] in ("done", "error"):
                return


async def stored_outcome(c: Container, gid: str) -> dict[str, Any]:
    """The terminal event rebuilt from the event store (the bus is transport, never the record)."""
    generation = await c.run(c.app.get_generation, gid)
    if generation.status == COMPLETED:
        return {"i": 0, "event": "done", "data": generation_response(gid, generation.modality, generation.result)}
    if generation.error is not None:
        return {"i": 0, "event": "error", "data": error_object(generation.error["code"], generation.error["message"],
                                                               request_id=gid)}
    return {"i": 0, "event": "error", "data": error_object(
        "timeout", f"Still {generation.status}; follow it with GET /v1/generations/{gid}.", request_id=gid,
        type_="timeout")}

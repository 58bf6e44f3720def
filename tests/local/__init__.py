"""Tests of the local runtimes, through the real libraries and tiny models built at test time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from runtimes.base import GenerationRequest, Message


def make_request(model: Path | str, prompt: str = "hello cat", modality: str = "text", **parameters) -> GenerationRequest:
    return GenerationRequest(generation_id="g-test", model=str(model), modality=modality,
                             messages=(Message("user", prompt),), parameters=parameters)


async def collect(runtime, req: GenerationRequest) -> list:
    """As the gateway runs it: the parameters checked when the generation is requested, then the runtime."""
    parameters = runtime.validate(req.modality, req.parameters, req.model)
    return [chunk async for chunk in runtime.execute(replace(req, parameters=parameters))]

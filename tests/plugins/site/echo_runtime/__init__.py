"""A third-party runtime, as a plugin author would write one: found through the ``pluggably.runtimes`` entry point
of its distribution (``echo_runtime-0.1.0.dist-info``), it declares what our providers declare (its settings, that
it needs a credential, its menu, its prices) and answers with what it saw of its credential: where it came from,
and a digest of the key (never the key itself)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic_settings import SettingsConfigDict

from runtimes.base import Chunk, GenerationRequest, ProviderSettings, Result, Runtime, TextDelta, Usage


class EchoSettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_ECHO_", **ProviderSettings.CONFIG)


def fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class EchoRuntime(Runtime):
    name = "echo"
    label = "Echo"
    modalities = frozenset({"text"})
    needs_credential = True
    settings_class = EchoSettings
    models = (("echo-1", "text"),)
    prices = {"echo-1": (1_000_000.0, 0.0)}  # a dollar an input token: easy to see in the usage

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings

    async def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        credential = request.credential
        assert credential is not None  # the gateway sends none of our work without one
        text = f"{request.prompt} [key {fingerprint(credential.api_key)} from the {credential.source}]"
        yield TextDelta(text)
        yield Result(text=text, usage=Usage(input_tokens=2, output_tokens=len(text.split())))


def create(settings: Any) -> EchoRuntime:
    """The entry point: called once with the gateway's settings; the runtime reads its own."""
    return EchoRuntime(EchoSettings())

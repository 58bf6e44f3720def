"""One contract for every commercial provider runtime, run against that provider's fake over real HTTP.

Each subclass only says which runtime, which fake, and where the provider's wire format puts things.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import httpx
import pytest

from domain.errors import (
    InvalidRequest,
    ProviderAuthFailed,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from infra.settings import Settings
from runtimes.base import Credential, GenerationRequest, Message, ProviderSettings, Result, Runtime, TextDelta, Usage
from runtimes.providers import anthropic, azure, google, openai, xai
from runtimes.providers.http import RetryPolicy
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.google_fake import GoogleFake
from tests.fakes.openai_fake import OpenAIFake
from tests.fakes.provider_base import ProviderFake, RecordedRequest

KEY = "sk-contract-secret-0123456789"
SERVER_CREDENTIAL = Credential(KEY, "server")
WRONG_KEY = "sk-wrong-secret-9876543210"
GATEWAY = Settings(_env_file=None)
FAST = RetryPolicy(max_retries=2, backoff_s=0.001, backoff_max_s=0.005, max_retry_after_s=1.0)
SYSTEM = "Answer briefly"
PROMPT = "hello brave new world"


@dataclass(frozen=True)
class Request(GenerationRequest):
    """A request that can ask for an unstreamed upstream call (runtimes read an optional ``stream`` attribute)."""

    stream: bool = True


def png_size(data: bytes) -> tuple[int, int]:
    """Check the PNG signature, IHDR and image data; answer (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    assert len(zlib.decompress(data[idat + 4:idat + 4 + length])) == height * (1 + 3 * width)
    return width, height


class ProviderContract:
    module: ClassVar[ModuleType]
    fake_class: ClassVar[type[ProviderFake]]
    provider: ClassVar[str]
    env_var: ClassVar[str]
    text_model: ClassVar[str]
    image_model: ClassVar[str | None] = None
    image_size: ClassVar[tuple[int, int]] = (256, 256)
    path_part: ClassVar[str]  # a substring of the text endpoint's path
    mid_stream_after: ClassVar[int] = 3  # events before a broken stream breaks: at least one text delta

    # -- what a provider says ----------------------------------------------------------------------------------

    def settings(self, fake: ProviderFake) -> ProviderSettings:
        """The provider's own settings, pointing it at the fake."""
        raise NotImplementedError

    def assert_authenticated(self, request: RecordedRequest) -> None:
        raise NotImplementedError

    def assert_system(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def assert_parameters(self, body: dict[str, Any]) -> None:
        """The body of a request made with temperature 0.5, max_tokens 2, top_p 0.9, stop ["zzz"]."""
        raise NotImplementedError

    def assert_streamed(self, request: RecordedRequest, streamed: bool) -> None:
        assert bool((request.body or {}).get("stream")) is streamed

    # -- fixtures and helpers ----------------------------------------------------------------------------------

    @pytest.fixture
    def fake(self) -> Iterator[ProviderFake]:
        with self.fake_class(api_key=KEY) as fake:
            yield fake

    @pytest.fixture
    async def runtime(self, fake: ProviderFake):
        runtime = self.module.create(GATEWAY, self.settings(fake), retry=FAST, timeout_s=2.0)
        yield runtime
        await runtime.aclose()

    def request(self, *, stream: bool = True, modality: str = "text", parameters: dict[str, Any] | None = None,
                credential: Credential | None = SERVER_CREDENTIAL, system: bool = True) -> Request:
        messages = ((Message("system", SYSTEM),) if system else ()) + (Message("user", "earlier question"),
                                                                       Message("assistant", "earlier answer"),
                                                                       Message("user", PROMPT))
        model = self.image_model if modality == "image" else self.text_model
        return Request("gen-1", model or "", modality, messages, parameters or {}, credential, "user-1",
                       stream=stream)

    @staticmethod
    async def run(runtime: Runtime, request: GenerationRequest) -> tuple[list[TextDelta], Result]:
        deltas, results = [], []
        async for chunk in runtime.execute(request):
            (results if isinstance(chunk, Result) else deltas).append(chunk)
        assert len(results) == 1
        return deltas, results[0]

    def calls(self, fake: ProviderFake) -> list[RecordedRequest]:
        return fake.api_requests(self.path_part)

    @property
    def expected_usage(self) -> Usage:
        words = sum(len(text.split()) for text in (SYSTEM, "earlier question", "earlier answer", PROMPT))
        return Usage(input_tokens=words, output_tokens=len(("Echo: " + PROMPT).split()))

    # -- the contract ------------------------------------------------------------------------------------------

    def test_factory_builds_the_named_runtime(self, runtime: Runtime) -> None:
        assert runtime.name == self.provider
        assert runtime.needs_credential is True
        assert "text" in runtime.modalities and "text" in runtime.parameters
        assert ("image" in runtime.modalities) is (self.image_model is not None)

    async def test_text(self, runtime: Runtime, fake: ProviderFake) -> None:
        deltas, result = await self.run(runtime, self.request(stream=False))
        assert result.text == "Echo: " + PROMPT
        assert "".join(d.text for d in deltas) == result.text
        assert result.usage == self.expected_usage
        assert result.finish_reason == "stop"
        [call] = self.calls(fake)
        self.assert_authenticated(call)
        self.assert_streamed(call, False)

    async def test_streamed_text(self, runtime: Runtime, fake: ProviderFake) -> None:
        deltas, result = await self.run(runtime, self.request())
        assert len(deltas) == len(result.text.split()) > 1  # really streamed, one word a chunk
        assert "".join(d.text for d in deltas) == result.text == "Echo: " + PROMPT
        assert result.usage == self.expected_usage  # never metered as zero
        assert result.finish_reason == "stop"
        [call] = self.calls(fake)
        self.assert_authenticated(call)
        self.assert_streamed(call, True)

    async def test_system_prompt_in_the_providers_form(self, runtime: Runtime, fake: ProviderFake) -> None:
        await self.run(runtime, self.request())
        self.assert_system(self.calls(fake)[0].body)

    @pytest.mark.parametrize("stream", [False, True])
    async def test_parameters_reach_the_provider(self, runtime: Runtime, fake: ProviderFake, stream: bool) -> None:
        parameters = {"temperature": 0.5, "max_tokens": 2, "top_p": 0.9, "stop": ["zzz"]}
        deltas, result = await self.run(runtime, self.request(stream=stream, parameters=parameters))
        assert result.text == "Echo: hello"
        assert result.finish_reason == "length"
        assert result.usage.output_tokens == 2
        self.assert_parameters(self.calls(fake)[0].body)

    async def test_images(self, runtime: Runtime, fake: ProviderFake) -> None:
        if self.image_model is None:  # this provider has no image API: the API refuses image requests for it
            assert "image" not in runtime.modalities and "image" not in runtime.parameters
            return
        allowed = runtime.parameters["image"]
        wanted = {"n": 2, "width": self.image_size[0], "height": self.image_size[1]}
        parameters = {k: v for k, v in wanted.items() if k in allowed}
        deltas, result = await self.run(runtime, self.request(modality="image", parameters=parameters))
        assert deltas == []
        assert len(result.images) == parameters.get("n", 1)
        assert result.usage.images == len(result.images)
        for blob in result.images:
            assert (blob.mime_type, blob.extension) == ("image/png", "png")
            assert png_size(blob.data) == self.image_size

    async def test_provider_400_is_rejected_with_the_providers_message(self, runtime: Runtime,
                                                                        fake: ProviderFake) -> None:
        fake.script_error(400, "Invalid value for 'top_p': nope")
        with pytest.raises(ProviderRejected) as caught:
            await self.run(runtime, self.request())
        assert "Invalid value for 'top_p': nope" in caught.value.message
        assert caught.value.provider == self.provider
        assert len(self.calls(fake)) == 1  # a rejection is not retried

    async def test_wrong_server_key_fails_auth_naming_the_env_var(self, runtime: Runtime,
                                                                  fake: ProviderFake) -> None:
        with pytest.raises(ProviderAuthFailed) as caught:
            await self.run(runtime, self.request(credential=Credential(WRONG_KEY, "server")))
        message = caught.value.message
        assert self.env_var in message
        assert WRONG_KEY not in message and WRONG_KEY[-10:] not in message and KEY not in message
        assert len(self.calls(fake)) == 1

    @pytest.mark.parametrize("status", [401, 403])
    async def test_user_credential_rejected_points_to_profile(self, runtime: Runtime, fake: ProviderFake,
                                                              status: int) -> None:
        fake.script_error(status)
        with pytest.raises(ProviderAuthFailed) as caught:
            await self.run(runtime, self.request(stream=False, credential=Credential(KEY, "user")))
        assert "your saved" in caught.value.message and "(Profile)" in caught.value.message
        assert f"/v1/me/credentials/{self.provider}" in caught.value.message
        assert KEY not in caught.value.message

    async def test_missing_credential_is_not_configured(self, runtime: Runtime, fake: ProviderFake) -> None:
        with pytest.raises(ProviderNotConfigured) as caught:
            await self.run(runtime, self.request(credential=None))
        assert self.env_var in caught.value.message
        assert f"PUT /v1/me/credentials/{self.provider}" in caught.value.message
        assert self.calls(fake) == []

    @pytest.mark.parametrize("stream", [False, True])
    async def test_429_is_retried_then_succeeds(self, runtime: Runtime, fake: ProviderFake, stream: bool) -> None:
        fake.script_error(429, retry_after=0, times=2)
        _, result = await self.run(runtime, self.request(stream=stream))
        assert result.text == "Echo: " + PROMPT
        assert len(self.calls(fake)) == 3

    async def test_429_exhausted_is_rate_limited_with_retry_after(self, runtime: Runtime,
                                                                  fake: ProviderFake) -> None:
        fake.script_error(429, retry_after=0.05, times=3)
        with pytest.raises(ProviderRateLimited) as caught:
            await self.run(runtime, self.request())
        assert caught.value.retry_after == pytest.approx(0.05)
        assert caught.value.retryable
        assert len(self.calls(fake)) == 3

    async def test_long_retry_after_is_reported_not_waited(self, runtime: Runtime, fake: ProviderFake) -> None:
        fake.script_error(429, retry_after=30, times=3)
        with pytest.raises(ProviderRateLimited) as caught:
            await self.run(runtime, self.request(stream=False))
        assert caught.value.retry_after == 30
        assert len(self.calls(fake)) == 1

    @pytest.mark.parametrize("stream", [False, True])
    async def test_500_is_retried_then_unavailable(self, runtime: Runtime, fake: ProviderFake, stream: bool) -> None:
        fake.script_error(500, times=3)
        with pytest.raises(ProviderUnavailable):
            await self.run(runtime, self.request(stream=stream))
        assert len(self.calls(fake)) == 3

    async def test_503_once_is_retried(self, runtime: Runtime, fake: ProviderFake) -> None:
        fake.script_error(503)
        _, result = await self.run(runtime, self.request())
        assert result.usage == self.expected_usage
        assert len(self.calls(fake)) == 2

    @pytest.mark.parametrize("stream", [False, True])
    async def test_timeout(self, fake: ProviderFake, stream: bool) -> None:
        runtime = self.module.create(GATEWAY, self.settings(fake), retry=FAST, timeout_s=0.15)
        fake.script_delay(0.6, times=3)
        try:
            with pytest.raises(ProviderTimeout):
                await self.run(runtime, self.request(stream=stream))
        finally:
            await runtime.aclose()
        assert len(self.calls(fake)) == 3

    @pytest.mark.parametrize("mode", ["disconnect", "error"])
    async def test_failure_mid_stream_raises_without_retry(self, runtime: Runtime, fake: ProviderFake,
                                                           mode: str) -> None:
        fake.fail_mid_stream(self.mid_stream_after, mode=mode)
        deltas: list[TextDelta] = []
        with pytest.raises(ProviderError) as caught:
            async for chunk in runtime.execute(self.request()):
                assert not isinstance(chunk, Result)
                deltas.append(chunk)
        assert deltas and deltas[0].text == "Echo:"
        assert caught.value.retryable  # the worker may retry the generation as a whole
        assert len(self.calls(fake)) == 1


class OpenAIFamily(ProviderContract):
    fake_class = OpenAIFake
    path_part = "/chat/completions"

    def assert_authenticated(self, request: RecordedRequest) -> None:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.path == "/v1/chat/completions"
        assert request.body["model"] == self.text_model

    def assert_system(self, body: dict[str, Any]) -> None:
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]

    def assert_parameters(self, body: dict[str, Any]) -> None:
        assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop"] == ["zzz"]
        assert body["max_completion_tokens"] == 2 and "max_tokens" not in body

    def assert_streamed(self, request: RecordedRequest, streamed: bool) -> None:
        super().assert_streamed(request, streamed)
        if streamed:
            assert request.body["stream_options"] == {"include_usage": True}



class TestOpenAI(OpenAIFamily):
    module = openai
    provider = "openai"
    env_var = "LLM_API_OPENAI_API_KEY"
    text_model = "gpt-4o-mini"
    image_model = "dall-e-3"

    def settings(self, fake: ProviderFake) -> Settings:
        return openai.OpenAISettings(base_url=fake.base_url, _env_file=None)

    async def test_gpt_image_models_get_no_response_format(self, runtime: Runtime, fake: OpenAIFake) -> None:
        request = self.request(modality="image", parameters={"width": 64, "height": 64})
        _, result = await self.run(runtime, replace(request, model="gpt-image-1"))
        assert png_size(result.images[0].data) == (64, 64)
        assert "response_format" not in fake.api_requests("/images/generations")[0].body


class TestXAI(OpenAIFamily):
    module = xai
    provider = "xai"
    env_var = "LLM_API_XAI_API_KEY"
    text_model = "grok-3-mini"
    image_model = "grok-2-image"
    image_size = (1024, 1024)  # xAI takes no size

    def settings(self, fake: ProviderFake) -> Settings:
        return xai.XAISettings(base_url=fake.base_url, _env_file=None)

    def assert_parameters(self, body: dict[str, Any]) -> None:
        assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop"] == ["zzz"]
        assert body["max_tokens"] == 2


class TestAzure(OpenAIFamily):
    module = azure
    provider = "azure"
    env_var = "LLM_API_AZURE_OPENAI_API_KEY"
    text_model = "my-gpt4o-deployment"
    image_model = "my-dalle3-deployment"

    def settings(self, fake: ProviderFake) -> Settings:
        return azure.AzureSettings(endpoint=fake.azure_endpoint, api_version="2024-10-21", _env_file=None)

    def assert_authenticated(self, request: RecordedRequest) -> None:
        assert request.headers["api-key"] == KEY and "authorization" not in request.headers
        assert request.path == f"/openai/deployments/{self.text_model}/chat/completions"
        assert request.query == {"api-version": "2024-10-21"}
        assert "model" not in request.body

    def assert_parameters(self, body: dict[str, Any]) -> None:
        assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop"] == ["zzz"]
        assert body["max_tokens"] == 2

    async def test_users_credential_brings_its_endpoint_and_version(self, fake: OpenAIFake) -> None:
        runtime = azure.create(GATEWAY, azure.AzureSettings(_env_file=None), retry=FAST)  # no server endpoint at all
        credential = Credential(KEY, "user", endpoint=fake.azure_endpoint + "/", api_version="2025-01-01-preview")
        try:
            _, result = await self.run(runtime, self.request(credential=credential))
        finally:
            await runtime.aclose()
        assert result.text == "Echo: " + PROMPT
        assert self.calls(fake)[0].query == {"api-version": "2025-01-01-preview"}

    async def test_no_endpoint_is_not_configured(self, fake: OpenAIFake) -> None:
        runtime = azure.create(GATEWAY, azure.AzureSettings(_env_file=None), retry=FAST)
        with pytest.raises(ProviderNotConfigured) as caught:
            await self.run(runtime, self.request())
        assert "LLM_API_AZURE_OPENAI_ENDPOINT" in caught.value.message

    async def test_unknown_deployment_is_rejected(self, fake: OpenAIFake, runtime: Runtime) -> None:
        fake.deployments = {"other"}
        with pytest.raises(ProviderRejected, match="deployment for this resource does not exist"):
            await self.run(runtime, self.request())


class TestAnthropic(ProviderContract):
    module = anthropic
    fake_class = AnthropicFake
    provider = "anthropic"
    env_var = "LLM_API_ANTHROPIC_API_KEY"
    text_model = "claude-sonnet-4-5"
    path_part = "/v1/messages"
    mid_stream_after = 4  # message_start, content_block_start, ping, then one delta

    def settings(self, fake: ProviderFake) -> Settings:
        return anthropic.AnthropicSettings(base_url=fake.base_url, _env_file=None)

    def assert_authenticated(self, request: RecordedRequest) -> None:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.body["model"] == self.text_model

    def assert_system(self, body: dict[str, Any]) -> None:
        assert body["system"] == SYSTEM
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]

    def assert_parameters(self, body: dict[str, Any]) -> None:
        assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop_sequences"] == ["zzz"]
        assert body["max_tokens"] == 2

    async def test_max_tokens_defaults_because_the_api_requires_it(self, runtime: Runtime,
                                                                   fake: AnthropicFake) -> None:
        await self.run(runtime, self.request(system=False))
        body = self.calls(fake)[0].body
        assert body["max_tokens"] == 1024 and "system" not in body

    async def test_overloaded_error_event_mid_stream(self, runtime: Runtime, fake: AnthropicFake) -> None:
        fake.fail_mid_stream(4, mode="error")
        with pytest.raises(ProviderUnavailable, match="Overloaded"):
            await self.run(runtime, self.request())

    def test_no_seed(self, runtime: Runtime) -> None:
        assert "seed" not in runtime.parameters["text"]


class TestGoogle(ProviderContract):
    module = google
    fake_class = GoogleFake
    provider = "google"
    env_var = "LLM_API_GOOGLE_API_KEY"
    text_model = "gemini-2.5-flash"
    image_model = "gemini-2.5-flash-image"
    image_size = (1024, 1024)  # 1:1 at the model's resolution
    path_part = "/v1beta/models/"
    mid_stream_after = 1

    def settings(self, fake: ProviderFake) -> Settings:
        return google.GoogleSettings(base_url=fake.base_url, _env_file=None)

    def assert_authenticated(self, request: RecordedRequest) -> None:
        assert request.headers["x-goog-api-key"] == KEY and "key" not in request.query

    def assert_streamed(self, request: RecordedRequest, streamed: bool) -> None:
        method = "streamGenerateContent" if streamed else "generateContent"
        assert request.path == f"/v1beta/models/{self.text_model}:{method}"
        assert request.query == ({"alt": "sse"} if streamed else {})

    def assert_system(self, body: dict[str, Any]) -> None:
        assert body["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
        assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
        assert body["contents"][-1]["parts"] == [{"text": PROMPT}]

    def assert_parameters(self, body: dict[str, Any]) -> None:
        assert body["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 2, "topP": 0.9,
                                            "stopSequences": ["zzz"]}

    async def test_image_request_asks_for_image_modality(self, runtime: Runtime, fake: GoogleFake) -> None:
        _, result = await self.run(runtime, self.request(modality="image", parameters={
            "width": 1920, "height": 1080, "seed": 7}))
        assert png_size(result.images[0].data) == (1024, 576)
        config = self.calls(fake)[0].body["generationConfig"]
        assert config == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "16:9"}, "seed": 7}

    async def test_text_model_asked_for_an_image_is_rejected(self, runtime: Runtime) -> None:
        request = self.request(modality="image")
        with pytest.raises(ProviderRejected, match="response modalities"):
            await self.run(runtime, replace(request, model=self.text_model))

    async def test_imagen_models_go_through_predict(self, runtime: Runtime, fake: GoogleFake) -> None:
        request = replace(self.request(modality="image", parameters={"width": 1080, "height": 1920}),
                          model="imagen-4.0-generate-001")
        _, result = await self.run(runtime, request)
        assert len(result.images) == 1 and png_size(result.images[0].data) == (768, 1408)  # 9:16
        call = self.calls(fake)[0]
        assert call.path == "/v1beta/models/imagen-4.0-generate-001:predict"
        assert call.body == {"instances": [{"prompt": request.prompt}],
                             "parameters": {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "9:16"}}
        assert result.usage.images == 1

    async def test_imagen_filtered_image_is_rejected_with_the_reason(self, runtime: Runtime) -> None:
        request = replace(self.request(modality="image"), model="imagen-4.0-generate-001")
        request = replace(request, messages=(Message("user", "something forbidden"),))
        with pytest.raises(ProviderRejected, match="safety filter"):
            await self.run(runtime, request)

    def test_imagen_takes_no_seed(self, runtime: Runtime) -> None:
        runtime.validate("image", {"width": 512}, "imagen-4.0-generate-001")
        runtime.validate("image", {"seed": 1}, self.image_model)
        with pytest.raises(InvalidRequest) as refused:
            runtime.validate("image", {"seed": 1}, "imagen-4.0-generate-001")
        assert refused.value.param == "parameters.seed"


@pytest.mark.parametrize(("fake_module", "module", "provider_settings"), [
    ("openai_fake", openai, openai.OpenAISettings),
    ("anthropic_fake", anthropic, anthropic.AnthropicSettings),
    ("google_fake", google, google.GoogleSettings),
])
async def test_fakes_run_as_subprocesses(fake_module: str, module: ModuleType,
                                         provider_settings: type[ProviderSettings]) -> None:
    """How e2e tests use them: ``python -m tests.fakes.<name> --port 0 --api-key K``, base URL on the first line."""
    process = subprocess.Popen([sys.executable, "-m", f"tests.fakes.{fake_module}", "--port", "0", "--api-key", KEY],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    runtime = None
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        runtime = module.create(GATEWAY, provider_settings(base_url=base_url, _env_file=None), retry=FAST)
        model = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
        request = Request("gen-1", model[runtime.name], "text", (Message("user", PROMPT),), {}, SERVER_CREDENTIAL)
        _, result = await ProviderContract.run(runtime, request)
        assert result.text == "Echo: " + PROMPT
        with httpx.Client() as client:  # scripted over HTTP, as a separate process must be
            root = base_url.removesuffix("/v1")
            client.post(f"{root}/__fake__/script", json={"error": {"status": 400, "message": "scripted"}})
            with pytest.raises(ProviderRejected, match="scripted"):
                await ProviderContract.run(runtime, request)
            assert len(client.get(f"{root}/__fake__/requests").json()) == 2
    finally:
        if runtime is not None:
            await runtime.aclose()
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()

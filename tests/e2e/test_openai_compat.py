"""The OpenAI-compatible surface driven by the official ``openai`` SDK against a real gateway process."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.processes import Gateway, embedded_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, openai_fake: Any) -> Iterator[Gateway]:
    with embedded_gateway(tmp_path_factory.mktemp("openai-compat") / "data",
                          LLM_API_OPENAI_BASE_URL=openai_fake.base_url, LLM_API_OPENAI_API_KEY="sk-test") as gw:
        yield gw


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[Any]:
    key = gateway.user("sdk-user")["api_key"]
    with openai.OpenAI(base_url=gateway.url + "/openai/v1", api_key=key, max_retries=0, timeout=30) as sdk:
        yield sdk


def test_chat_completion(client: Any) -> None:
    answer = client.chat.completions.create(
        model="openai:gpt-4o-mini", temperature=0.2, max_tokens=50, n=1, user="u1",
        messages=[{"role": "system", "content": "be brief"},
                  {"role": "user", "content": [{"type": "text", "text": "hello there"}]}])
    assert answer.id.startswith("chatcmpl-") and answer.object == "chat.completion"
    assert answer.model == "openai:gpt-4o-mini"
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "Echo: hello there"
    assert choice.finish_reason == "stop"
    assert answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_chat_completion_stream(client: Any) -> None:
    chunks = list(client.chat.completions.create(
        model="openai:gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream these words"}]))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream these words"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # token by token
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_chat_stream_without_usage(client: Any) -> None:
    chunks = list(client.chat.completions.create(model="openai:gpt-4o-mini", stream=True,
                                                 messages=[{"role": "user", "content": "hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hi"
    assert all(c.usage is None and c.choices for c in chunks)


def test_image_generation(client: Any) -> None:
    answer = client.images.generate(model="openai:dall-e-3", prompt="a red square", n=2, size="64x64",
                                    response_format="b64_json")
    assert len(answer.data) == 2
    for image in answer.data:
        assert base64.b64decode(image.b64_json).startswith(b"\x89PNG\r\n\x1a\n")


def test_models_list(client: Any) -> None:
    models = client.models.list().data
    ids = {m.id for m in models}
    assert "openai:gpt-4o-mini" in ids
    assert all(m.object == "model" for m in models)
    assert next(m for m in models if m.id == "openai:gpt-4o-mini").owned_by == "openai"


def test_unknown_model_is_not_found(client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="local:nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["param"] == "model"


def test_bad_requests_are_4xx_with_a_message(client: Any) -> None:
    with pytest.raises((openai.UnprocessableEntityError, openai.BadRequestError)) as caught:
        client.chat.completions.create(model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"frobnicate": True})
    assert "frobnicate" in caught.value.message
    with pytest.raises((openai.UnprocessableEntityError, openai.BadRequestError)):
        client.chat.completions.create(model="openai:gpt-4o-mini", temperature=5,
                                       messages=[{"role": "user", "content": "hi"}])
    with pytest.raises((openai.UnprocessableEntityError, openai.BadRequestError)):
        client.images.generate(model="openai:dall-e-3", prompt="x", size="huge")


def test_wrong_key_is_an_authentication_error(gateway: Gateway) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/openai/v1", api_key="pk-wrong", max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def test_upstream_failure_mid_stream_ends_with_an_error(gateway: Gateway, client: Any, openai_fake: Any) -> None:
    openai_fake.fail_mid_stream(after_events=2, mode="disconnect")
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="openai:gpt-4o-mini", stream=True,
                                                    messages=[{"role": "user", "content": "a b c d e f"}]):
            seen.append(chunk.choices[0].delta.content or "")
    assert seen and caught.value.body["code"] in ("provider_unavailable", "provider_error")


def test_upstream_error_before_the_answer_keeps_its_status(client: Any, openai_fake: Any) -> None:
    openai_fake.script_error(400, "bad request from the fake")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "bad request from the fake" in caught.value.message

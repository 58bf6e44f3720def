"""Generate, stream (and resume a cut stream), generations and artifacts: sync and async, against a real gateway."""

from __future__ import annotations

import pytest

from llm_api_client import (
    APIConnectionError,
    AsyncPluggablyClient,
    DoneEvent,
    ErrorEvent,
    GenerateInput,
    GenerateRequest,
    GenerationError,
    Message,
    PluggablyClient,
    TokenEvent,
)

from .conftest import IMAGE_MODEL, MODEL

PROMPT = " ".join(f"word{i}" for i in range(40))
EXPECTED = "Echo: " + PROMPT


def text_request(prompt: str = PROMPT, **kwargs) -> GenerateRequest:
    return GenerateRequest(modality="text", model=MODEL, input=GenerateInput(prompt=prompt), **kwargs)


def check_events(events: list, expected: str = EXPECTED) -> None:
    """Tokens then done; ids 1, 2, 3... without a gap or a repeat; the text exactly once."""
    assert isinstance(events[-1], DoneEvent), events[-1]
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert "".join(t.text for t in tokens) == expected
    assert events[-1].response.output.text == expected


# -- sync --------------------------------------------------------------------------------------------------------


def test_generate_returns_a_typed_response(client: PluggablyClient) -> None:
    response = client.generate(text_request("hello sdk"))
    assert response.output.text == "Echo: hello sdk"
    assert response.model == MODEL and response.modality == "text" and response.finish_reason == "stop"
    assert response.usage.output_tokens == 3 and response.usage.total_tokens == response.usage.input_tokens + 3
    assert response.request_id


def test_generate_with_messages_and_parameters(client: PluggablyClient) -> None:
    request = GenerateRequest(model=MODEL, parameters={"max_tokens": 2}, input=GenerateInput(messages=[
        Message(role="system", content="be brief"), Message(role="user", content="one two three")]))
    response = client.generate(request)
    assert response.output.text == "Echo: one" and response.finish_reason == "length"


def test_stream_yields_tokens_then_done(client: PluggablyClient) -> None:
    with client.stream(text_request()) as stream:
        events = list(stream)
    check_events(events)
    assert stream.reconnects == 0
    assert stream.generation_id == events[-1].response.request_id


def test_stream_text_and_final_response(client: PluggablyClient) -> None:
    assert "".join(client.stream(text_request("a b c")).text_stream) == "Echo: a b c"
    assert client.stream(text_request("d e")).final_response().output.text == "Echo: d e"


def test_stream_error_event_and_final_response_raises(client: PluggablyClient, openai_fake) -> None:
    openai_fake.script_error(400, "Nope, not this prompt.")
    events = list(client.stream(text_request("refused")))
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == "provider_rejected"
    openai_fake.script_error(400, "Nope, not this prompt.")
    with pytest.raises(GenerationError) as caught:
        client.stream(text_request("refused")).final_response()
    assert caught.value.code == "provider_rejected" and "Nope" in caught.value.message


@pytest.mark.parametrize("cut_after", [300, 700, 1400, 2100])
def test_a_cut_stream_resumes_without_loss_or_repetition(proxy, api_key: str, cut_after: int) -> None:
    proxy.cut_next(cut_after)
    with PluggablyClient(proxy.url, api_key, max_retries=2) as client:
        stream = client.stream(text_request())
        events = list(stream)
    assert proxy.cut_done == 1, "the proxy did not cut the stream"
    assert stream.reconnects == 1
    check_events(events)


def test_a_stream_cut_while_still_generating_follows_it_live(proxy, api_key: str, openai_fake) -> None:
    openai_fake.stream_interval_s = 0.02  # ~1 s of tokens: the reconnect happens mid-generation
    try:
        proxy.cut_next(700)
        with PluggablyClient(proxy.url, api_key) as client:
            stream = client.stream(text_request())
            events = list(stream)
            assert client.get_generation(stream.generation_id).status == "completed"
    finally:
        openai_fake.stream_interval_s = 0.0
    assert stream.reconnects == 1
    check_events(events)


def test_a_stream_that_cannot_be_resumed_raises_a_connection_error(proxy, api_key: str) -> None:
    proxy.cut_next(700)
    with PluggablyClient(proxy.url, api_key, max_retries=0) as client:
        stream = client.stream(text_request())
        with pytest.raises(APIConnectionError, match="could not|reconnect"):
            list(stream)
    assert stream.generation_id and stream.last_event_id >= 1


def test_generation_status_and_cancel(client: PluggablyClient) -> None:
    response = client.generate(text_request("status please"))
    generation = client.get_generation(response.request_id)
    assert generation.id == response.request_id and generation.status == "completed"
    assert client.cancel_generation(response.request_id).status == "completed"  # finished: left as it is


def test_images_inline_and_as_artifacts(client: PluggablyClient, tmp_path) -> None:
    small = client.generate(GenerateRequest(modality="image", model=IMAGE_MODEL, input=GenerateInput(prompt="dot"),
                                            parameters={"width": 64, "height": 64}))
    [png] = small.output.image_bytes()
    assert png.startswith(b"\x89PNG") and not small.output.artifacts

    big = client.generate(GenerateRequest(modality="image", model=IMAGE_MODEL, input=GenerateInput(prompt="wall"),
                                          parameters={"width": 1024, "height": 1024}))
    [artifact] = big.output.artifacts
    assert artifact.mime_type == "image/png" and artifact.size_bytes > 2000
    data = client.read_artifact(artifact.id)
    assert data.startswith(b"\x89PNG") and len(data) == artifact.size_bytes
    to_file = client.download_artifact(artifact.id, tmp_path / "wall.png")
    assert to_file == tmp_path / "wall.png" and to_file.read_bytes() == data
    into_folder = client.download_artifact(artifact.id, tmp_path)
    assert into_folder == tmp_path / f"{artifact.id}.png" and into_folder.read_bytes() == data
    assert not list(tmp_path.glob("*.part"))


# -- async -------------------------------------------------------------------------------------------------------


async def test_async_generate(aclient: AsyncPluggablyClient) -> None:
    response = await aclient.generate(text_request("hello async"))
    assert response.output.text == "Echo: hello async"


async def test_async_stream(aclient: AsyncPluggablyClient) -> None:
    async with aclient.stream(text_request()) as stream:
        events = [event async for event in stream]
    check_events(events)
    assert "".join([t async for t in aclient.stream(text_request("x y")).text_stream]) == "Echo: x y"
    assert (await aclient.stream(text_request("z")).final_response()).output.text == "Echo: z"


@pytest.mark.parametrize("cut_after", [500, 1800])
async def test_async_cut_stream_resumes(proxy, api_key: str, cut_after: int) -> None:
    proxy.cut_next(cut_after)
    async with AsyncPluggablyClient(proxy.url, api_key, max_retries=2) as client:
        stream = client.stream(text_request())
        events = [event async for event in stream]
    assert proxy.cut_done == 1 and stream.reconnects == 1
    check_events(events)


async def test_async_generations_and_artifacts(aclient: AsyncPluggablyClient, tmp_path) -> None:
    response = await aclient.generate(GenerateRequest(modality="image", model=IMAGE_MODEL,
                                                      input=GenerateInput(prompt="async wall"),
                                                      parameters={"width": 1024, "height": 1024}))
    assert (await aclient.get_generation(response.request_id)).status == "completed"
    assert (await aclient.cancel_generation(response.request_id)).status == "completed"
    [artifact] = response.output.artifacts
    data = await aclient.read_artifact(artifact.id)
    path = await aclient.download_artifact(artifact.id, tmp_path / "a.png")
    assert path.read_bytes() == data and data.startswith(b"\x89PNG")

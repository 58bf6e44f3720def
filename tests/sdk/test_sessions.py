"""Sessions and session handles, sync and async, against a real gateway."""

from __future__ import annotations

import datetime as dt

import pytest

from llm_api_client import (
    AsyncPluggablyClient,
    DoneEvent,
    GenerateInput,
    GenerateRequest,
    NotFoundError,
    PluggablyClient,
    TokenEvent,
)

from .conftest import MODEL


def ask(prompt: str) -> GenerateRequest:
    return GenerateRequest(modality="text", input=GenerateInput(prompt=prompt))


def test_session_lifecycle(client: PluggablyClient) -> None:
    session = client.create_session(title="sdk chat", model=MODEL)
    assert session.title == "sdk chat" and session.model == MODEL and session.created_at is not None
    assert session.id in [s.id for s in client.list_sessions()]

    handle = client.session(session.id)
    assert handle.id == session.id
    reply = handle.generate(ask("first question"))  # the session's model is used
    assert reply.output.text == "Echo: first question"
    before_second = dt.datetime.now(dt.timezone.utc)
    with handle.stream(ask("second one")) as stream:
        events = list(stream)
    assert isinstance(events[-1], DoneEvent)
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "Echo: second one"

    messages = handle.messages()
    assert [(m.role, m.content) for m in messages] == [
        ("user", "first question"), ("assistant", "Echo: first question"),
        ("user", "second one"), ("assistant", "Echo: second one")]
    assert messages[1].generation_id == reply.request_id
    assert [m.content for m in handle.messages(as_of=before_second)] == ["first question", "Echo: first question"]
    assert handle.get(as_of=before_second).as_of is not None

    history = handle.history()
    types = [e.type for e in history.events]
    assert history.session_id == session.id and types[0] == "ChatSession.Started"
    assert types.count("Generation.Completed") == 2
    assert len(handle.history(as_of=before_second).events) < len(history.events)

    renamed = handle.rename("renamed")
    assert renamed.title == "renamed" and client.get_session(session.id).title == "renamed"
    handle.delete()
    with pytest.raises(NotFoundError):
        client.get_session(session.id)


def test_session_without_handle_methods(client: PluggablyClient) -> None:
    session = client.create_session()
    assert session.title and session.model is None
    assert client.rename_session(session.id, "t2").title == "t2"
    detail = client.get_session(session.id)
    assert detail.messages == [] and detail.id == session.id
    client.delete_session(session.id)
    assert session.id not in [s.id for s in client.list_sessions()]


async def test_async_sessions(aclient: AsyncPluggablyClient) -> None:
    session = await aclient.create_session(title="async chat", model=MODEL)
    assert session.id in [s.id for s in await aclient.list_sessions()]
    handle = aclient.session(session.id)
    assert (await handle.generate(ask("one"))).output.text == "Echo: one"
    async with handle.stream(ask("two")) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text == "Echo: two"
    assert [m.content for m in await handle.messages()] == ["one", "Echo: one", "two", "Echo: two"]
    assert (await handle.get()).message_count == 4
    history = await handle.history()
    assert history.events and (await handle.history(as_of=history.events[0].timestamp)).events
    assert (await handle.rename("r")).title == "r"
    assert (await aclient.rename_session(session.id, "r2")).title == "r2"
    assert (await aclient.get_session(session.id)).title == "r2"
    await handle.delete()
    with pytest.raises(NotFoundError):
        await aclient.get_session(session.id)
    other = await aclient.create_session()
    await aclient.delete_session(other.id)


async def test_async_session_stream_resumes_after_a_cut(proxy, api_key: str, aclient) -> None:
    session = await aclient.create_session(model=MODEL)
    prompt = " ".join(f"w{i}" for i in range(30))
    proxy.cut_next(900)
    async with AsyncPluggablyClient(proxy.url, api_key) as client:
        stream = client.session(session.id).stream(ask(prompt))
        events = [event async for event in stream]
    assert stream.reconnects == 1
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "Echo: " + prompt

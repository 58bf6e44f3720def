"""Server-sent events: parsing, typed events, and resuming a broken stream with ``Last-Event-ID``.

Every event the gateway streams has an integer ``id`` (1, 2, 3...). When the connection drops before the ``done``
or ``error`` event, the stream reconnects to ``GET /v1/generations/{id}/events`` with ``Last-Event-ID: <last id
seen>``; the gateway replays only what came after, and events already seen are skipped anyway, so no token is
lost or repeated. The generation id comes from the ``X-Generation-ID`` response header.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from . import _endpoints as api
from ._errors import APIConnectionError, GenerationError
from ._models import DoneEvent, ErrorEvent, GenerateResponse, ProgressEvent, StreamEvent, TokenEvent

if TYPE_CHECKING:
    from ._async_client import AsyncPluggablyClient
    from ._base import Call
    from ._client import PluggablyClient

__all__ = ["AsyncStream", "SSEDecoder", "ServerSentEvent", "Stream"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One raw SSE message."""

    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    """Turns lines (without their line ending) into :class:`ServerSentEvent` objects, per the SSE spec."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def reset(self) -> None:
        """Drop a half-received event (the connection broke before its blank line)."""
        self._event, self._data, self._id = "", [], None

    def decode(self, line: str) -> ServerSentEvent | None:
        """Feed one line; a blank line completes the event, which is returned."""
        if not line:
            if not self._data and not self._event:
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


def typed(sse: ServerSentEvent) -> StreamEvent | None:
    """The typed event for a raw one; unknown event names are ignored (a newer gateway may add some)."""
    data: Any = json.loads(sse.data) if sse.data else {}
    event_id = int(sse.id) if sse.id and sse.id.isdigit() else None
    if sse.event == "token":
        return TokenEvent(id=event_id, text=data.get("text", ""))
    if sse.event == "progress":
        return ProgressEvent.model_validate({**data, "id": event_id})
    if sse.event == "done":
        return DoneEvent(id=event_id, response=GenerateResponse.model_validate(data))
    if sse.event == "error":
        return ErrorEvent.model_validate({"id": event_id, "error": data.get("error", data)})
    return None


class _Resume:
    """The state of one logical stream across connections: which generation, the last event id, finished."""

    def __init__(self, max_reconnects: int) -> None:
        self.generation_id: str | None = None
        self.last_event_id = 0
        self.finished = False
        self.reconnects = 0
        self.failures = 0
        self.max_reconnects = max_reconnects
        self.decoder = SSEDecoder()

    def opened(self, response: httpx.Response) -> None:
        self.generation_id = self.generation_id or response.headers.get("x-generation-id")
        self.decoder.reset()

    def feed(self, line: str) -> StreamEvent | None:
        sse = self.decoder.decode(line)
        if sse is None:
            return None
        event = typed(sse)
        if event is None:
            return None
        if event.id is not None:
            if event.id <= self.last_event_id:
                return None  # seen before the reconnect
            self.last_event_id = event.id
        self.failures = 0
        if isinstance(event, (DoneEvent, ErrorEvent)):
            self.finished = True
            if self.generation_id is None:
                self.generation_id = (
                    event.response.request_id if isinstance(event, DoneEvent) else event.error.request_id
                )
        return event

    def next_call(self, cause: Exception | None, request: httpx.Request | None) -> Call[None]:
        """The call that resumes the stream, or the error that says it cannot be."""
        where = f"after event {self.last_event_id}" if self.last_event_id else "before its first event"
        if self.generation_id is None:
            raise APIConnectionError(
                message=f"The stream broke {where} and the gateway sent no X-Generation-ID to resume it with.",
                request=request,
            ) from cause
        if self.failures >= self.max_reconnects:
            tried = f"{self.failures} reconnect(s) failed" if self.max_reconnects else "resuming is off (max_retries=0)"
            raise APIConnectionError(
                message=f"The stream of generation {self.generation_id} broke {where} and "
                f"could not be resumed: {tried}. Read its outcome with "
                f"get_generation('{self.generation_id}').",
                request=request,
            ) from cause
        self.failures += 1
        self.reconnects += 1
        return api.generation_events(self.generation_id, self.last_event_id)


class _StreamBase:
    _state: _Resume
    response: httpx.Response | None

    @property
    def generation_id(self) -> str | None:
        """The generation's id (known as soon as the gateway answered)."""
        return self._state.generation_id

    @property
    def reconnects(self) -> int:
        """How many times the stream was resumed after a broken connection."""
        return self._state.reconnects

    @property
    def last_event_id(self) -> int:
        """The id of the last event received (0 before the first)."""
        return self._state.last_event_id

    @staticmethod
    def _final(events: list[StreamEvent]) -> GenerateResponse:
        last = events[-1] if events else None
        if isinstance(last, DoneEvent):
            return last.response
        if isinstance(last, ErrorEvent):
            raise GenerationError(last.error.model_dump())
        raise APIConnectionError(message="The stream ended without a done or error event.")


class Stream(_StreamBase):
    """An iterator of typed events (``TokenEvent``, ``ProgressEvent``, then ``DoneEvent`` or ``ErrorEvent``).

    Use it as a context manager (or exhaust it) so the connection is released::

        with client.stream(request) as stream:
            for event in stream:
                if event.type == "token":
                    print(event.text, end="")
    """

    def __init__(self, client: PluggablyClient, call: Call[Any]) -> None:
        self._client, self._call = client, call
        self._state = _Resume(client.max_retries)
        self.response = None
        self._iterator = self._events()

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        return next(self._iterator)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection; the generation itself goes on (``cancel_generation()`` stops it)."""
        self._iterator.close()
        if self.response is not None:
            self.response.close()

    @property
    def text_stream(self) -> Iterator[str]:
        """Only the text of the token events."""
        return (event.text for event in self if isinstance(event, TokenEvent))

    def final_response(self) -> GenerateResponse:
        """Read the stream to its end; the ``done`` event's response, or :class:`GenerationError`."""
        return self._final(list(self))

    def _events(self) -> Generator[StreamEvent, None, None]:
        state, call = self._state, self._call
        while True:
            response = self.response = self._client._send(call, stream=True)
            state.opened(response)
            cause: Exception | None = None
            try:
                for line in response.iter_lines():
                    event = state.feed(line)
                    if event is not None:
                        yield event
                        if state.finished:
                            return
            except httpx.TransportError as error:
                cause = error
            finally:
                response.close()
            call = state.next_call(cause, response.request)
            time.sleep(self._client._retry_delay(state.failures - 1))


class AsyncStream(_StreamBase):
    """An async iterator of typed events; the async twin of :class:`Stream`::

    async with client.stream(request) as stream:
        async for event in stream:
            ...
    """

    def __init__(self, client: AsyncPluggablyClient, call: Call[Any]) -> None:
        self._client, self._call = client, call
        self._state = _Resume(client.max_retries)
        self.response = None
        self._iterator = self._events()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._iterator.__anext__()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection; the generation itself goes on (``cancel_generation()`` stops it)."""
        await self._iterator.aclose()
        if self.response is not None:
            await self.response.aclose()

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text of the token events."""
        return self._texts()

    async def _texts(self) -> AsyncIterator[str]:
        async for event in self:
            if isinstance(event, TokenEvent):
                yield event.text

    async def final_response(self) -> GenerateResponse:
        """Read the stream to its end; the ``done`` event's response, or :class:`GenerationError`."""
        return self._final([event async for event in self])

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        state, call = self._state, self._call
        while True:
            response = self.response = await self._client._send(call, stream=True)
            state.opened(response)
            cause: Exception | None = None
            try:
                async for line in response.aiter_lines():
                    event = state.feed(line)
                    if event is not None:
                        yield event
                        if state.finished:
                            return
            except httpx.TransportError as error:
                cause = error
            finally:
                await response.aclose()
            call = state.next_call(cause, response.request)
            await asyncio.sleep(self._client._retry_delay(state.failures - 1))

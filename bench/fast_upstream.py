"""A zero-latency fake OpenAI upstream for benchmarks: a raw asyncio protocol, no framework (uvloop when present).

``POST {root}/v1/chat/completions`` answers OpenAI's exact wire format: a ``chat.completion`` object with
``usage``, or, with ``"stream": true``, a chunked ``text/event-stream`` of ``chat.completion.chunk`` events (the
role chunk, ``--chunks`` content chunks ``tok0 ``, ``tok1 ``..., the finish chunk, a usage chunk when
``stream_options.include_usage`` is set, then ``data: [DONE]``). It checks the bearer key and nothing else, so
that the gateway, not the fake, is what a benchmark measures (tests/fakes/openai_fake.py enforces the API).
Keep-alive and pipelined requests are served; one process, one core: ~20k requests/s here.

    python -m bench.fast_upstream --port 0 --api-key sk-bench   # first stdout line: the base URL (…/v1)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import time
from typing import Any

STREAM_CHUNKS = 200


def _sse(data: Any) -> bytes:
    return b"data: " + (data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()) + b"\n\n"


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Upstream:
    """The answers, with everything that does not change per request prepared once."""

    def __init__(self, api_key: str, chunks: int) -> None:
        self.auth = b"bearer " + api_key.encode()
        self.chunks = chunks
        self.ids = itertools.count(1)
        self.pieces = [f"tok{i} " for i in range(chunks)]
        self.completion_tokens = chunks

    def complete(self, model: str, prompt_tokens: int) -> bytes:
        ident, created = f"chatcmpl-fast{next(self.ids)}", int(time.time())
        body = json.dumps({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Echo: measured", "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2, "total_tokens": prompt_tokens + 2},
            "system_fingerprint": "fp_fast"}, separators=(",", ":")).encode()
        return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: %s\r\n"
                b"content-length: %d\r\n\r\n%s" % (ident.encode(), len(body), body))

    def stream(self, model: str, prompt_tokens: int, include_usage: bool) -> bytes:
        ident, created = f"chatcmpl-fast{next(self.ids)}", int(time.time())
        head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_fast"}

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            data = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                data["usage"] = None
            return _chunked(_sse(data))

        parts = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nx-request-id: %s\r\n"
                 b"transfer-encoding: chunked\r\n\r\n" % ident.encode(),
                 chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        parts += [chunk({"content": piece}, None) for piece in self.pieces]
        parts.append(chunk({}, "stop"))
        if include_usage:
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": self.completion_tokens,
                     "total_tokens": prompt_tokens + self.completion_tokens}
            parts.append(_chunked(_sse({**head, "choices": [], "usage": usage})))
        parts.append(_chunked(_sse(b"[DONE]")))
        parts.append(b"0\r\n\r\n")
        return b"".join(parts)

    def answer(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        if headers.get(b"authorization", b"").lower() != self.auth:
            return _reply(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                          "param": None, "code": "invalid_api_key"}})
        if method != b"POST" or path.split(b"?", 1)[0] != b"/v1/chat/completions":
            return _reply(404, {"error": {"message": f"Invalid URL ({method.decode()} {path.decode()})",
                                          "type": "invalid_request_error", "param": None, "code": None}})
        try:
            request = json.loads(body)
            model = request["model"]
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return _reply(400, {"error": {"message": "We could not parse the JSON body of your request.",
                                          "type": "invalid_request_error", "param": None, "code": None}})
        if request.get("stream") is True:
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return self.stream(model, prompt_tokens, include_usage)
        return self.complete(model, prompt_tokens)


def _reply(status: int, data: Any) -> bytes:
    body = json.dumps(data).encode()
    reason = {400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}[status]
    return b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        status, reason, len(body), body)


class _Connection(asyncio.Protocol):
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            lines = self.buffer[:end].split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                break  # the body is still coming
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            out.append(self.upstream.answer(method, path, headers, body))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int, api_key: str, chunks: int) -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream(api_key, chunks)
    server = await loop.create_server(lambda: _Connection(upstream), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"http://{host}:{bound}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk-bench")
    parser.add_argument("--chunks", type=int, default=STREAM_CHUNKS)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    runner = uvloop.run if uvloop is not None and not os.environ.get("BENCH_NO_UVLOOP") else asyncio.run
    runner(serve(args.host, args.port, args.api_key, args.chunks))
    sys.exit(0)


if __name__ == "__main__":
    main()

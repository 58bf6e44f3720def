"""What every provider fake shares: a real HTTP/1.1 server on 127.0.0.1 in a background thread, recording,
scripted failures, SSE over chunked transfer encoding, deterministic echo text and a real PNG.

A fake is used in-process (``with OpenAIFake(api_key="k") as fake: fake.base_url``) or as a subprocess
(``python -m tests.fakes.openai_fake --port 0 --api-key K`` prints its base URL as the first stdout line). A
subprocess fake is scripted and inspected over HTTP: ``POST /__fake__/script`` with
``{"error": {"status", "message", "retry_after", "times"}}``, ``{"delay": {"seconds", "times"}}`` or
``{"fail_mid_stream": {"after_events", "mode", "times"}}`` or ``{"hold": {"after_events", "times"}}`` (a stream that
stops after that many events until ``POST /__fake__/release``); ``GET /__fake__/requests``; ``POST /__fake__/reset``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import socket
import struct
import sys
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (90, 120, 200)) -> bytes:
    """A valid RGB PNG of one colour, built with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def colour_of(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def count_words(text: str) -> int:
    return len(text.split())


def echo_words(prompt: str, max_tokens: int | None = None) -> tuple[list[str], str]:
    """The deterministic answer (``Echo: <prompt words>``) as stream pieces, and its finish (stop or length).

    One word is one token: pieces after the first carry their leading space, so ``"".join(pieces)`` is the text.
    """
    words = ["Echo:", *prompt.split()]
    finish = "stop"
    if max_tokens is not None and len(words) > max_tokens:
        words, finish = words[:max_tokens], "length"
    return [w if i == 0 else " " + w for i, w in enumerate(words)], finish


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    raw: bytes = field(default=b"", repr=False)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class StreamReply:
    """An SSE answer: ``events`` are complete SSE blocks (``"data: {...}\\n\\n"``)."""

    events: list[str]
    headers: dict[str, str] = field(default_factory=dict)


def sse(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderFake/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._serve(self)  # type: ignore[attr-defined]

    do_POST = do_PUT = do_DELETE = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client going away is normal
            super().handle_error(request, client_address)


class ProviderFake:
    """Base of the provider fakes; subclasses implement :meth:`handle` and the provider's error formats."""

    #: The path prefix ``base_url`` adds to the server root (``/v1`` for OpenAI's SDK form).
    base_path = ""

    def __init__(self, api_key: str = "test-key", *, host: str = "127.0.0.1", port: int = 0,
                 stream_interval_s: float = 0.0) -> None:
        self.api_key = api_key
        self.stream_interval_s = stream_interval_s
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._errors: collections.deque[dict[str, Any]] = collections.deque()
        self._delays: collections.deque[float] = collections.deque()
        self._stream_failures: collections.deque[tuple[int, str]] = collections.deque()
        self._holds: collections.deque[int] = collections.deque()
        self._released = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url + self.base_path

    def start(self) -> ProviderFake:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ProviderFake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------------------------

    def script_error(self, status: int, message: str | None = None, *, body: Any = None,
                     retry_after: float | None = None, times: int = 1) -> None:
        """Answer the next ``times`` API requests with ``status`` (in the provider's error format unless ``body``)."""
        with self._lock:
            for _ in range(times):
                self._errors.append({"status": status, "message": message, "body": body,
                                     "retry_after": retry_after})

    def script_delay(self, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``times`` API requests (to provoke timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def fail_mid_stream(self, after_events: int = 1, *, mode: str = "disconnect", times: int = 1) -> None:
        """Break the next ``times`` streams after ``after_events`` events: ``disconnect`` drops the connection
        without ending the chunked body; ``error`` sends the provider's documented in-stream error event."""
        if mode not in ("disconnect", "error"):
            raise ValueError("mode is 'disconnect' or 'error'")
        with self._lock:
            self._stream_failures.extend([(after_events, mode)] * times)

    def hold(self, after_events: int = 1, *, times: int = 1) -> None:
        """Hold the next ``times`` streams after ``after_events`` events, until :meth:`release` (a reply that is
        still being written, for as long as a test needs)."""
        with self._lock:
            self._released.clear()
            self._holds.extend([after_events] * times)

    def release(self) -> None:
        """Let every held stream go on."""
        self._released.set()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._errors.clear()
            self._delays.clear()
            self._stream_failures.clear()
            self._holds.clear()
        self._released.set()

    def api_requests(self, path_contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path_contains in r.path and not r.path.startswith("/__fake__")]

    # -- what a provider defines -------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply | StreamReply:
        raise NotImplementedError

    def error_reply(self, status: int, message: str | None) -> Reply:
        raise NotImplementedError

    def stream_error_event(self, message: str) -> str:
        raise NotImplementedError

    def rate_limit_headers(self, retry_after: float | None) -> dict[str, str]:
        if retry_after is None:
            return {}
        return {"retry-after": str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)}

    # -- serving -----------------------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            self._serve_one(handler)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            handler.close_connection = True

    def _serve_one(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(handler.command, url.path, dict(parse_qsl(url.query)),
                                  {k.lower(): v for k, v in handler.headers.items()}, body, raw)
        if url.path.startswith("/__fake__/"):
            self._write(handler, self._control(request))
            return
        with self._lock:
            self.requests.append(request)
            delay = self._delays.popleft() if self._delays else 0.0
            scripted = self._errors.popleft() if self._errors else None
        if delay:
            time.sleep(delay)
        if scripted is not None:
            reply = (Reply(scripted["status"], scripted["body"]) if scripted["body"] is not None
                     else self.error_reply(scripted["status"], scripted["message"]))
            reply.headers.update(self.rate_limit_headers(scripted["retry_after"]))
        else:
            reply = self.handle(request)
        if isinstance(reply, StreamReply):
            with self._lock:
                failure = self._stream_failures.popleft() if self._stream_failures else None
                hold = self._holds.popleft() if self._holds else None
            self._write_stream(handler, reply, failure, hold)
        else:
            self._write(handler, reply)

    def _control(self, request: RecordedRequest) -> Reply:
        command = request.path.removeprefix("/__fake__/")
        if command == "requests":
            with self._lock:
                return Reply(200, [asdict(r) | {"raw": None} for r in self.requests])
        if command == "reset":
            self.reset()
            return Reply(200, {"ok": True})
        if command == "release":
            self.release()
            return Reply(200, {"ok": True})
        if command == "script" and isinstance(request.body, dict):
            if "error" in request.body:
                self.script_error(**request.body["error"])
            if "delay" in request.body:
                self.script_delay(**request.body["delay"])
            if "fail_mid_stream" in request.body:
                self.fail_mid_stream(**request.body["fail_mid_stream"])
            if "hold" in request.body:
                self.hold(**request.body["hold"])
            return Reply(200, {"ok": True})
        if command == "image.png":
            return Reply(200, png_bytes(64, 64, colour_of(request.query.get("prompt", ""))),
                         content_type="image/png")
        return Reply(404, {"error": f"unknown fake control {command!r}"})

    def _write(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("content-type", reply.content_type)
        handler.send_header("content-length", str(len(data)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()

    def _write_stream(self, handler: BaseHTTPRequestHandler, reply: StreamReply,
                      failure: tuple[int, str] | None, hold: int | None = None) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream; charset=utf-8")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        events = reply.events
        if failure is not None:
            after, mode = failure
            events = events[:after]
            if mode == "error":
                events = [*events, self.stream_error_event("The server had an error while streaming.")]
        for index, event in enumerate(events):
            if index == hold:
                self._released.wait()
            data = event.encode()
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            if self.stream_interval_s:
                time.sleep(self.stream_interval_s)
        if failure is not None and failure[1] == "disconnect":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def main(fake_class: type[ProviderFake], argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.<provider>_fake --port 0 --api-key K``: print the base URL, serve until killed."""
    parser = argparse.ArgumentParser(description=f"Run {fake_class.__name__} on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--stream-interval", type=float, default=0.0, help="seconds between streamed events")
    args = parser.parse_args(argv)
    fake = fake_class(api_key=args.api_key, host=args.host, port=args.port, stream_interval_s=args.stream_interval)
    print(fake.base_url, flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()
        sys.stdout.flush()

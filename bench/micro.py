"""Microbenchmarks of the parts of one request, in isolation: each prints one JSON line (µs per operation).

- ``eventstore``: our commands (``request_generation``, ``start_generation``, ``complete_generation``) on SQLite and
  PostgreSQL, one save each, as a request does them; the split of one save into mapping + transcoding (our event
  to a stored event) and the recorder's insert + commit; one save of many new aggregates (events/s batched).
- ``http_client``: httpx (our ``ProviderHTTP`` and a bare ``httpx.AsyncClient``) against aiohttp, CPU per call
  against the fast upstream, non-streamed and the 200-chunk stream.
- ``json``: the stdlib ``json`` against orjson (and msgspec when installed) on our payloads.
- ``validation``: pydantic parsing of the two surfaces' bodies.
- ``thread_hop``: ``loop.run_in_executor`` of a no-op on a 32-thread pool (asyncio and uvloop).
- ``memory_bus``: the in-process bus's token publish with 0 to 20k generations' token subjects already stored.

    .venv/bin/python -m bench.micro [--only eventstore,http_client,...] [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import API_KEY, PG_ADMIN, PROMPT, direct_body, fast_upstream, gateway_body  # noqa: E402


def per_op(fn: Callable[[], Any], n: int) -> dict[str, float]:
    """Wall and CPU (this process, all threads) µs per call of ``fn``, over ``n`` calls after a warm-up."""
    for _ in range(min(50, n)):
        fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return {"wall_us": round((time.perf_counter() - wall) / n * 1e6, 2),
            "cpu_us": round((time.process_time() - cpu) / n * 1e6, 2)}


async def per_op_async(fn: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(min(50, n)):
        await fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await fn()
    return {"wall_us": round((time.perf_counter() - wall) / n * 1e6, 2),
            "cpu_us": round((time.process_time() - cpu) / n * 1e6, 2)}


def emit(name: str, figures: dict[str, Any]) -> None:
    print(json.dumps({"bench": "micro", "name": name, **figures}), flush=True)


# -- the event store -------------------------------------------------------------------------------------------

def _gateway(engine: str, tmp: str, dbname: str | None) -> Any:
    from commands.service import Gateway
    from infra.eventstore import eventstore_env
    from infra.passwords import ApiKeys, Passwords
    from infra.settings import Settings

    extra = {"LLM_API_DATA_DIR": tmp}
    if engine == "postgres":
        extra["LLM_API_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + str(dbname)
    os.environ.update(extra)
    settings = Settings()
    return Gateway(eventstore_env(settings, create_table=True), passwords=Passwords(), api_keys=ApiKeys(b"bench"))


def _request_kwargs() -> dict[str, Any]:
    return {"owner_id": str(uuid.uuid4()), "key_id": "k" + secrets.token_hex(4), "session_id": None,
            "modality": "text", "targets": [{"model": "openai:gpt-4o-mini", "runtime": "openai",
                                             "location": "gpt-4o-mini"}],
            "messages": [{"role": "user", "content": PROMPT}], "parameters": {}, "stream": False}


def _completion() -> dict[str, Any]:
    return {"model": "openai:gpt-4o-mini", "provider": "openai", "output": {"text": "Echo: measured"},
            "usage": {"input_tokens": 6, "output_tokens": 2}, "finish_reason": "stop", "latency_ms": 1.234,
            "ttft_ms": None}


def eventstore_engine(engine: str, n: int) -> None:
    import psycopg

    from domain.generations import Generation

    dbname = None
    if engine == "postgres":
        dbname = "pluggably_micro_" + secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = _gateway(engine, tmp, dbname)
            try:
                ids: list[str] = []

                def requested() -> None:
                    ids.append(str(app.request_generation(**_request_kwargs()).id))

                figures: dict[str, Any] = {"engine": engine, "n": n}
                figures["request_generation"] = per_op(requested, n)
                started = iter(list(ids))
                figures["start_generation"] = per_op(lambda: app.start_generation(next(started), "w", None),
                                                     len(ids) - 50)
                completed = iter(list(ids))
                figures["complete_generation"] = per_op(lambda: app.complete_generation(next(completed),
                                                                                         **_completion()),
                                                        len(ids) - 50)
                got = iter(list(ids))
                figures["get_generation_cached"] = per_op(lambda: app.get_generation(next(got)), len(ids) - 50)
                # One save split: our event to a stored event (mapping, transcoding), then the recorder.
                pending = [Generation(**_request_kwargs()) for _ in range(n + 50)]
                events = iter([e for g in pending for e in g.collect_events()])
                figures["map_and_transcode_one_event"] = per_op(lambda: app.mapper.to_stored_event(next(events)),
                                                                n)
                stored = iter([app.mapper.to_stored_event(e) for g in [
                    Generation(**_request_kwargs()) for _ in range(n + 50)] for e in g.collect_events()])
                figures["recorder_insert_one_event"] = per_op(lambda: app.recorder.insert_events([next(stored)]), n)
                batch = 100
                many = [Generation(**_request_kwargs()) for _ in range(batch * 5)]
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(5):
                    app.save(*many[i * batch:(i + 1) * batch])
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                figures["save_100_aggregates"] = {"events_per_s": round(5 * batch / wall),
                                                  "wall_us_per_event": round(wall / (5 * batch) * 1e6, 2),
                                                  "cpu_us_per_event": round(cpu / (5 * batch) * 1e6, 2)}
                emit("eventstore", figures)
            finally:
                app.close()
    finally:
        if dbname:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# -- the upstream HTTP client ----------------------------------------------------------------------------------

async def _http_clients(base_url: str, n: int) -> dict[str, Any]:
    import httpx

    from runtimes.base import Credential, GenerationRequest, Message
    from runtimes.providers.openai import OpenAIRuntime, OpenAISettings

    url = base_url + "/chat/completions"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    figures: dict[str, Any] = {"n": n}
    runtime = OpenAIRuntime(OpenAISettings(base_url=base_url, _env_file=None))
    credential = Credential(api_key=API_KEY, source="server")

    def request(stream: bool) -> GenerationRequest:
        return GenerationRequest(generation_id="g", model="gpt-4o-mini", modality="text",
                                 messages=(Message("user", PROMPT),), parameters={}, credential=credential,
                                 owner_id="o", stream=stream)

    async def ours(stream: bool) -> None:
        async for _ in runtime.execute(request(stream)):
            pass

    figures["ours_provider_http"] = await per_op_async(lambda: ours(False), n)
    figures["ours_provider_http_stream200"] = await per_op_async(lambda: ours(True), max(20, n // 10))
    await runtime.aclose()
    async with httpx.AsyncClient(headers=headers) as client:
        async def bare() -> None:
            (await client.post(url, json=direct_body(False))).json()

        async def bare_stream() -> None:
            async with client.stream("POST", url, json=direct_body(True)) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        json.loads(line[6:])

        figures["httpx"] = await per_op_async(bare, n)
        figures["httpx_stream200"] = await per_op_async(bare_stream, max(20, n // 10))
    try:
        import aiohttp
    except ImportError:
        figures["aiohttp"] = "not installed"
        return figures
    async with aiohttp.ClientSession(headers=headers) as session:
        async def aio() -> None:
            async with session.post(url, json=direct_body(False)) as response:
                await response.json()

        async def aio_stream() -> None:
            async with session.post(url, json=direct_body(True)) as response:
                async for line in response.content:
                    if line.startswith(b"data: {"):
                        json.loads(line[6:])

        figures["aiohttp"] = await per_op_async(aio, n)
        figures["aiohttp_stream200"] = await per_op_async(aio_stream, max(20, n // 10))
    return figures


def http_client(n: int) -> None:
    with fast_upstream() as (base_url, _):
        for loop_name in ("asyncio", "uvloop"):
            runner = asyncio.run
            if loop_name == "uvloop":
                try:
                    import uvloop
                except ImportError:
                    continue
                runner = uvloop.run
            emit("http_client", {"loop": loop_name, **runner(_http_clients(base_url, n))})


# -- JSON, validation ------------------------------------------------------------------------------------------

def json_codecs(n: int) -> None:
    payloads = {
        "generate_body": gateway_body("generate", False),
        "token_event": {"i": 17, "event": "token", "data": {"text": "tok17 "}},
        "done_event": {"i": 3, "event": "done", "data": {
            "id": str(uuid.uuid4()), "modality": "text", "model": "openai:gpt-4o-mini",
            "output": {"text": "Echo: measured"}, "usage": {"input_tokens": 6, "output_tokens": 2},
            "finish_reason": "stop", "latency_ms": 1.2, "ttft_ms": None}},
        "upstream_chunk": {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                           "system_fingerprint": "fp", "choices": [{"index": 0, "delta": {"content": "tok1 "},
                                                                    "logprobs": None, "finish_reason": None}],
                           "usage": None},
        "requested_state": {**_request_kwargs(), "originator_topic": "domain.generations:Generation"},
    }
    codecs: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
        "json": (lambda o: json.dumps(o).encode(), json.loads)}
    try:
        import orjson
        codecs["orjson"] = (orjson.dumps, orjson.loads)
    except ImportError:
        pass
    try:
        import msgspec
        codecs["msgspec"] = (msgspec.json.encode, msgspec.json.decode)
    except ImportError:
        pass
    for name, payload in payloads.items():
        figures: dict[str, Any] = {"payload": name, "bytes": len(json.dumps(payload))}
        for codec, (dumps, loads) in codecs.items():
            raw = dumps(payload)
            figures[codec] = {"dumps_us": per_op(lambda: dumps(payload), n * 10)["cpu_us"],
                              "loads_us": per_op(lambda: loads(raw), n * 10)["cpu_us"]}
        emit("json", figures)


def validation(n: int) -> None:
    from api.openai.protocol import ChatCompletionIn
    from api.schemas import GenerateIn, parse

    generate = gateway_body("generate", False)
    chat = gateway_body("openai", False)
    emit("validation", {
        "generate_in": per_op(lambda: parse(GenerateIn, generate), n * 5),
        "chat_completion_in_and_translation": per_op(lambda: parse(ChatCompletionIn, chat).order(), n * 5)})


# -- thread pool, in-process bus -------------------------------------------------------------------------------

async def _hops(n: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=32)
    try:
        return await per_op_async(lambda: loop.run_in_executor(executor, int), n)
    finally:
        executor.shutdown()


def thread_hop(n: int) -> None:
    figures: dict[str, Any] = {"asyncio": asyncio.run(_hops(n * 5))}
    try:
        import uvloop
        figures["uvloop"] = uvloop.run(_hops(n * 5))
    except ImportError:
        pass
    emit("thread_hop", figures)


async def _bus(stored: int, n: int) -> dict[str, float]:
    from infra.bus.memory import MemoryBus

    bus = MemoryBus("bench")
    for i in range(stored):
        bus._store_token(f"tokens.old{i}", b"x")
    data = json.dumps({"i": 1, "event": "token", "data": {"text": "tok1 "}}).encode()
    subjects = [f"tokens.{uuid.uuid4()}" for _ in range(max(1, n // 200))]
    counter = iter(range(10**9))
    return await per_op_async(lambda: bus.publish(subjects[next(counter) % len(subjects)], data), n)


def memory_bus(n: int) -> None:
    emit("memory_bus", {"token_publish_with_stored_subjects": {
        str(stored): asyncio.run(_bus(stored, n)) for stored in (0, 1000, 5000, 20000)}})


def eventstore_all(n: int) -> None:
    for engine in ("sqlite", "postgres"):
        eventstore_engine(engine, n)


BENCHES = {"eventstore": eventstore_all, "http_client": http_client, "json": json_codecs,
           "validation": validation, "thread_hop": thread_hop, "memory_bus": memory_bus}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    for name in args.only.split(","):
        BENCHES[name](args.n)


if __name__ == "__main__":
    main()

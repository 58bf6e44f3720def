"""The benchmark's own tools: the fast upstream speaks OpenAI's wire format; the profiler puts samples in stages."""

from __future__ import annotations

import openai
import pytest

from bench.harness import API_KEY, fast_upstream, streams
from bench.profile import OUTSIDE_GIL, breakdown, parse_frame, stage_of


@pytest.fixture(scope="module")
def upstream():
    with fast_upstream(chunks=200) as (base_url, _):
        yield base_url


def test_the_fast_upstream_answers_the_official_sdk(upstream: str) -> None:
    client = openai.OpenAI(base_url=upstream, api_key=API_KEY, max_retries=0)
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a b c"}])
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == 3

    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}],
                                                 stream=True, stream_options={"include_usage": True}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 200 and texts[0] == "tok0 "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 200

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=upstream, api_key="sk-wrong", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])


def test_the_stream_client_reads_a_chunked_stream_to_its_end(upstream: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a"}], "stream": True}
    timed = streams(upstream + "/chat/completions", body, {"Authorization": f"Bearer {API_KEY}"}, 3)
    assert timed["n"] == 3 and 0 < timed["ttfc_p50_ms"] <= timed["total_p50_ms"]


def frames(*names: str) -> list[tuple[str, str]]:
    return [parse_frame(name) for name in names]


def test_samples_go_to_the_stage_that_owns_them() -> None:
    worker_thread = ("Thread._bootstrap (threading.py:1002)", "_worker (concurrent/futures/thread.py:58)")
    recorder = frames(*worker_thread, "Gateway.start_generation (commands/service.py:190)",
                      "Gateway.save (commands/service.py:62)", "SQLiteCursor.execute (eventsourcing/sqlite.py:80)")
    assert stage_of(recorder) == "event store: start_generation: recorder (SQL + commit)"
    mapping = frames(*worker_thread, "retry_on_conflict.<locals>.wrapper (commands/service.py:30)",
                     "Gateway.request_generation (commands/service.py:182)",
                     "Mapper.to_stored_event (eventsourcing/persistence.py:300)", "dumps (json/__init__.py:231)")
    assert stage_of(mapping) == "event store: request_generation: mapping + transcoding"
    token_store = frames("Worker._run (runtimes/worker.py:133)", "TokenStream.send (runtimes/worker.py:48)",
                         "MemoryBus.publish (infra/bus/memory.py:170)",
                         "MemoryBus._store_token (infra/bus/memory.py:212)")
    assert stage_of(token_store) == "in-process bus: token store (MemoryBus._store_token)"
    sanic = frames("_run_server_forever (sanic/server/runners.py:210)", "Http.http1 (sanic/http/http1.py:123)",
                   "Http.http1_request_header (sanic/http/http1.py:200)")
    assert stage_of(sanic) == "HTTP server (sanic: parsing, routing, writing)"
    assert stage_of(frames("Handle._run (asyncio/events.py:80)")) == "event loop (asyncio)"


def test_a_breakdown_shares_the_gil_time_and_reports_the_rest(tmp_path) -> None:
    raw = tmp_path / "serve.txt"
    raw.write_text("Handle._run (asyncio/events.py:80) 30\n"
                   "_run_server_forever (sanic/server/runners.py:210);Http.http1 (sanic/http/http1.py:123) 70\n")
    # 100 samples at 100 Hz over 100 requests: 10 ms holding the GIL per request, of 12 ms of CPU.
    figures = breakdown(raw, cpu_ms_per_request=12.0, rate=100, requests=100)
    assert figures["samples"] == 100 and figures["gil_ms_per_request"] == 10.0
    assert figures["stages"]["HTTP server (sanic: parsing, routing, writing)"] == {"share": 0.7, "us": 7000}
    assert figures["stages"]["event loop (asyncio)"] == {"share": 0.3, "us": 3000}
    assert figures["stages"][OUTSIDE_GIL]["us"] == 2000

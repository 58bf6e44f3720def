"""``llamacpp`` and ``ctransformers`` on a tiny GGUF, through the real libraries and loading code."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from domain.errors import InvalidRequest, NotFound, RuntimeFailure
from runtimes.base import Result, TextDelta
from runtimes.local.model_pool import ModelPool

from . import collect, make_request

RUNTIMES = ["llamacpp", "ctransformers"]


@pytest.fixture(params=RUNTIMES)
def runtime(request, llamacpp, ctransformers):
    return {"llamacpp": llamacpp, "ctransformers": ctransformers}[request.param]


async def test_streams_tokens_then_one_result(runtime, tiny_gguf):
    chunks = await collect(runtime, make_request(tiny_gguf, max_tokens=12, seed=7))
    deltas, result = chunks[:-1], chunks[-1]
    assert isinstance(result, Result)
    assert deltas and all(isinstance(d, TextDelta) for d in deltas)
    assert result.text == "".join(d.text for d in deltas) and result.text.strip()
    assert result.finish_reason == "length"
    assert result.usage.output_tokens == 12
    assert result.usage.input_tokens > 5


async def test_same_seed_same_text(runtime, tiny_gguf):
    texts = [(await collect(runtime, make_request(tiny_gguf, max_tokens=16, seed=s)))[-1].text for s in (3, 3, 4)]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


async def test_stop_sequence_ends_the_text(runtime, tiny_gguf):
    full = (await collect(runtime, make_request(tiny_gguf, max_tokens=30, seed=11)))[-1].text
    word = full.split()[3]
    chunks = await collect(runtime, make_request(tiny_gguf, max_tokens=30, seed=11, stop=[word]))
    result = chunks[-1]
    assert result.finish_reason == "stop"
    assert result.text == full[: full.index(word)]
    assert "".join(c.text for c in chunks[:-1]) == result.text


async def test_cancel_stops_within_a_token(runtime, tiny_gguf):
    seen = asyncio.Event()

    async def consume():
        count = 0
        async for _ in runtime.execute(make_request(tiny_gguf, max_tokens=200, seed=1)):
            count += 1
            if count == 3:
                seen.set()

    task = asyncio.ensure_future(consume())
    await seen.wait()
    produced_at_cancel = runtime.counters["tokens"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The generation runs at most one token ahead of its reader, and stops at the next token after that.
    assert runtime.counters["tokens"] - produced_at_cancel <= 2
    # ...and the model serves the next request normally.
    assert (await collect(runtime, make_request(tiny_gguf, max_tokens=4, seed=1)))[-1].usage.output_tokens == 4


async def test_missing_model_file_is_a_clear_error(runtime, tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(NotFound) as caught:
        await collect(runtime, make_request(missing))
    assert str(missing) in caught.value.message


async def test_bad_parameters_are_rejected(runtime, tiny_gguf):
    with pytest.raises(InvalidRequest, match="temperature"):
        await collect(runtime, make_request(tiny_gguf, temperature="hot"))
    with pytest.raises(InvalidRequest, match="width"):
        await collect(runtime, make_request(tiny_gguf, width=64))


async def test_ctransformers_crash_fails_the_request_and_the_next_one_works(ctransformers, tiny_bpe_gguf, tiny_gguf):
    with pytest.raises(RuntimeFailure, match="crashed") as caught:
        await collect(ctransformers, make_request(tiny_bpe_gguf, max_tokens=4))
    assert "SIGSEGV" in caught.value.message and tiny_bpe_gguf.name in caught.value.message
    assert (await collect(ctransformers, make_request(tiny_gguf, max_tokens=4, seed=2)))[-1].usage.output_tokens == 4
    with pytest.raises(RuntimeFailure, match="crashed"):  # and the crash repeats cleanly, no hang
        await collect(ctransformers, make_request(tiny_bpe_gguf, max_tokens=4))


async def test_a_model_replaced_at_the_same_path_is_loaded_again(local_settings, tiny_gguf, tiny_gguf_other,
                                                                 tmp_path):
    """A model removed and downloaded again (another repository, same id) lands at the same path."""
    from runtimes.local import llamacpp

    path = tmp_path / "model.gguf"
    shutil.copyfile(tiny_gguf, path)
    runtime = llamacpp.LlamaCppRuntime(local_settings, ModelPool(budget_mb=10_000, idle_unload_s=0), n_ctx=64)
    try:
        await collect(runtime, make_request(path, max_tokens=2))
        await collect(runtime, make_request(path, max_tokens=2))
        assert runtime.pool.stats.loads == 1
        replacement = tmp_path / "incoming.gguf"
        shutil.copyfile(tiny_gguf_other, replacement)
        replacement.replace(path)
        await collect(runtime, make_request(path, max_tokens=2))
        assert runtime.pool.stats.loads == 2
    finally:
        await runtime.aclose()


async def test_eviction_under_a_small_budget(local_settings, tiny_gguf, tiny_gguf_other):
    import llama_cpp  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import llamacpp

    runtime = llamacpp.LlamaCppRuntime(local_settings, ModelPool(budget_mb=0, idle_unload_s=0), n_ctx=64)
    one = runtime.estimate_mb(tiny_gguf)
    pool = runtime.pool = ModelPool(budget_mb=one * 1.5, idle_unload_s=0)  # room for one tiny model at a time
    try:
        await collect(runtime, make_request(tiny_gguf, max_tokens=2))
        await collect(runtime, make_request(tiny_gguf_other, max_tokens=2))
        assert [key[:2] for key in pool.loaded()] == [("llamacpp", str(tiny_gguf_other))]
        assert pool.stats.evictions == 1
        await collect(runtime, make_request(tiny_gguf, max_tokens=2))
        assert [key[:2] for key in pool.loaded()] == [("llamacpp", str(tiny_gguf))]
        assert (pool.stats.loads, pool.stats.evictions) == (3, 2)
    finally:
        await pool.aclose()


async def test_concurrent_requests_load_the_model_once(local_settings, tiny_gguf_other):
    import llama_cpp  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import llamacpp

    pool = ModelPool(budget_mb=100, idle_unload_s=0)
    runtime = llamacpp.LlamaCppRuntime(local_settings, pool, n_ctx=256)
    try:
        results = await asyncio.gather(*(collect(runtime, make_request(tiny_gguf_other, max_tokens=8, seed=5))
                                         for _ in range(4)))
        assert pool.stats.loads == 1
        # Serialised on the one instance, every request got a whole, identical answer.
        assert len({chunks[-1].text for chunks in results}) == 1
        assert all(chunks[-1].usage.output_tokens == 8 for chunks in results)
    finally:
        await pool.aclose()

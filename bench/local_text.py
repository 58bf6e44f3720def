"""Tokens per second of llama-cpp-python called directly, through our ``llamacpp`` runtime, and through the gateway
(a real embedded ``pluggably serve``, streamed over HTTP/SSE).

Same tiny GGUF (built on the fly), same prompt, same seed, same sampling settings. Prints one JSON line.
Usage: python -m bench.local_text [--tokens 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from infra.settings import Settings
from runtimes.base import GenerationRequest, Message, Result
from runtimes.local.llamacpp import LlamaCppRuntime
from runtimes.local.model_pool import ModelPool
from tests.models.builders import build_tiny_gguf, cached, default_cache_dir

PROMPT = [{"role": "user", "content": "tell me about the cat on the mat"}]
SEED, N_CTX = 42, 4096


def direct(path: str, tokens: int, runs: int) -> tuple[float, int]:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=N_CTX, verbose=False)
    rates, produced = [], 0
    for _ in range(runs + 1):  # the first run warms up
        start, produced = time.perf_counter(), 0
        for chunk in llm.create_chat_completion(PROMPT, stream=True, max_tokens=tokens, seed=SEED, temperature=0.8,
                                                top_p=0.95, top_k=40):
            produced += bool(chunk["choices"][0]["delta"].get("content"))
        rates.append(produced / (time.perf_counter() - start))
    llm.close()
    return statistics.median(rates[1:]), produced


async def through_runtime(path: str, tokens: int, runs: int) -> tuple[float, int]:
    pool = ModelPool(budget_mb=1024, idle_unload_s=0)
    runtime = LlamaCppRuntime(Settings(_env_file=None), pool, n_ctx=N_CTX)
    request = GenerationRequest("bench", path, "text", tuple(Message(**m) for m in PROMPT),
                                {"max_tokens": tokens, "seed": SEED, "temperature": 0.8, "top_p": 0.95})
    rates, produced = [], 0
    for _ in range(runs + 1):
        start = time.perf_counter()
        async for chunk in runtime.execute(request):
            if isinstance(chunk, Result):
                produced = chunk.usage.output_tokens
        rates.append(produced / (time.perf_counter() - start))
    await pool.aclose()
    return statistics.median(rates[1:]), produced


def through_gateway(path: str, tokens: int, runs: int) -> tuple[float, int]:
    import tempfile
    from pathlib import Path

    import httpx

    from tests.support.processes import embedded_gateway

    body = {"model": "local:" + Path(path).stem, "input": {"messages": PROMPT}, "stream": True,
            "parameters": {"max_tokens": tokens, "seed": SEED, "temperature": 0.8, "top_p": 0.95}}
    rates, produced = [], 0
    with tempfile.TemporaryDirectory() as tmp, embedded_gateway(Path(tmp) / "data",
                                                                 LLM_API_LOCAL_TEXT_MODEL_PATH=path) as gateway:
        key = gateway.user("bench")["api_key"]
        with httpx.Client(base_url=gateway.url, headers={"X-API-Key": key}, timeout=120) as client:
            for _ in range(runs + 1):
                start = time.perf_counter()
                with client.stream("POST", "/v1/generate", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: ") and '"usage"' in line:
                            produced = json.loads(line[6:])["usage"]["output_tokens"]
                rates.append(produced / (time.perf_counter() - start))
    return statistics.median(rates[1:]), produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = str(cached(build_tiny_gguf, default_cache_dir()))
    direct_rate, direct_tokens = direct(path, args.tokens, args.runs)
    runtime_rate, runtime_tokens = asyncio.run(through_runtime(path, args.tokens, args.runs))
    gateway_rate, gateway_tokens = through_gateway(path, args.tokens, args.runs)
    print(json.dumps({
        "bench": "local_text", "model": "tiny-llama (2 blocks, d=64, F32)", "max_tokens": args.tokens,
        "runs": args.runs, "direct_tokens_per_s": round(direct_rate, 1), "direct_tokens": direct_tokens,
        "runtime_tokens_per_s": round(runtime_rate, 1), "runtime_tokens": runtime_tokens,
        "runtime_over_direct": round(runtime_rate / direct_rate, 3),
        "gateway_tokens_per_s": round(gateway_rate, 1), "gateway_tokens": gateway_tokens,
        "gateway_over_direct": round(gateway_rate / direct_rate, 3),
    }))


if __name__ == "__main__":
    main()

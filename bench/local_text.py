"""Tokens per second of llama-cpp-python called directly, through our ``llamacpp`` runtime, and through the gateway
(a real embedded ``pluggably serve``, streamed over HTTP/SSE).

Same tiny GGUF (built on the fly), same prompt, same seed, same sampling settings. Two rates per path: the
end-to-end rate (tokens / whole request) and the decode rate (tokens after the first / time from the first token
to the last), with the time to first token beside them. Prints one JSON line.
Usage: python -m bench.local_text [--model bench|tiny] [--tokens 128] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

from infra.settings import Settings
from runtimes.base import GenerationRequest, Message, Result, TextDelta
from runtimes.local.llamacpp import LlamaCppRuntime
from runtimes.local.model_pool import ModelPool
from tests.models.builders import BENCH, TINY, build_bench_gguf, build_tiny_gguf, cached, default_cache_dir

PROMPT = [{"role": "user", "content": "tell me about the cat on the mat"}]
SEED, N_CTX = 42, 4096
SAMPLING = {"seed": SEED, "temperature": 0.8, "top_p": 0.95}


@dataclass
class Runs:
    """Timings of the measured runs of one path (the first run warms up and is dropped)."""

    end_to_end: list[float] = field(default_factory=list)
    decode: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    tokens: int = 0

    def add(self, start: float, first: float, end: float, tokens: int) -> None:
        self.end_to_end.append(tokens / (end - start))
        self.decode.append((tokens - 1) / (end - first))
        self.ttft_ms.append((first - start) * 1000)
        self.tokens = tokens

    def summary(self) -> dict[str, float]:
        return {"tokens_per_s": round(statistics.median(self.end_to_end[1:]), 1),
                "decode_tokens_per_s": round(statistics.median(self.decode[1:]), 1),
                "ttft_ms": round(statistics.median(self.ttft_ms[1:]), 2), "tokens": self.tokens}


def direct(path: str, tokens: int, runs: int) -> Runs:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=N_CTX, verbose=False)
    measured = Runs()
    for _ in range(runs + 1):
        start, first, produced = time.perf_counter(), 0.0, 0
        for chunk in llm.create_chat_completion(PROMPT, stream=True, max_tokens=tokens, top_k=40, **SAMPLING):
            if chunk["choices"][0]["delta"].get("content"):
                produced += 1
                first = first or time.perf_counter()
        measured.add(start, first, time.perf_counter(), produced)
    llm.close()
    return measured


async def through_runtime(path: str, tokens: int, runs: int) -> Runs:
    pool = ModelPool(budget_mb=1024, idle_unload_s=0)
    runtime = LlamaCppRuntime(Settings(_env_file=None), pool, n_ctx=N_CTX)
    request = GenerationRequest("bench", path, "text", tuple(Message(**m) for m in PROMPT),
                                {"max_tokens": tokens, **SAMPLING})
    measured = Runs()
    for _ in range(runs + 1):
        start, first, produced = time.perf_counter(), 0.0, 0
        async for chunk in runtime.execute(request):
            if isinstance(chunk, TextDelta):
                first = first or time.perf_counter()
            if isinstance(chunk, Result):
                produced = chunk.usage.output_tokens
        measured.add(start, first, time.perf_counter(), produced)
    await pool.aclose()
    return measured


def through_gateway(path: str, tokens: int, runs: int) -> Runs:
    import tempfile
    from pathlib import Path

    import httpx

    from tests.support.processes import embedded_gateway

    body = {"model": "local:" + Path(path).stem, "input": {"messages": PROMPT}, "stream": True,
            "parameters": {"max_tokens": tokens, **SAMPLING}}
    measured = Runs()
    with tempfile.TemporaryDirectory() as tmp, embedded_gateway(Path(tmp) / "data",
                                                                 LLM_API_LOCAL_TEXT_MODEL_PATH=path) as gateway:
        key = gateway.user("bench")["api_key"]
        with httpx.Client(base_url=gateway.url, headers={"X-API-Key": key}, timeout=120) as client:
            for _ in range(runs + 1):
                start, first, produced = time.perf_counter(), 0.0, 0
                with client.stream("POST", "/v1/generate", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: token"):
                            first = first or time.perf_counter()
                        elif line.startswith("data: ") and '"usage"' in line:
                            produced = json.loads(line[6:])["usage"]["output_tokens"]
                measured.add(start, first, time.perf_counter(), produced)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", choices=("bench", "tiny"), default="bench",
                        help="bench: ~57M random parameters (a token costs real compute); tiny: the test model, "
                             "thousands of tokens/s, where per-token overheads dominate")
    args = parser.parse_args()
    builder, shape = (build_bench_gguf, BENCH) if args.model == "bench" else (build_tiny_gguf, TINY)
    path = str(cached(builder, default_cache_dir()))
    paths = {"direct": direct(path, args.tokens, args.runs).summary(),
             "runtime": asyncio.run(through_runtime(path, args.tokens, args.runs)).summary(),
             "gateway": through_gateway(path, args.tokens, args.runs).summary()}
    base = paths["direct"]
    model = f"{args.model}-llama ({shape.blocks} blocks, d={shape.embed}, F32, random weights)"
    result: dict = {"bench": "local_text", "model": model, "max_tokens": args.tokens,
                    "runs": args.runs, **paths}
    for name in ("runtime", "gateway"):
        result[f"{name}_over_direct"] = round(paths[name]["tokens_per_s"] / base["tokens_per_s"], 3)
        result[f"{name}_decode_over_direct"] = round(paths[name]["decode_tokens_per_s"] / base["decode_tokens_per_s"],
                                                     3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

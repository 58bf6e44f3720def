"""Gateway overhead: the fake OpenAI upstream called directly versus through the gateway.

Same request count and concurrency on each path; prints one JSON line with p50/p99 latency per path, the
overhead (gateway minus direct) and requests per second. Modes: embedded (SQLite + in-process bus, one
process) and production (PostgreSQL + NATS; serve, worker and project processes).

    .venv/bin/python bench/overhead.py [--requests 400] [--concurrency 8] [--modes embedded,production]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.openai_fake import OpenAIFake  # noqa: E402
from tests.support.processes import embedded_gateway, production_gateway  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NATS = "nats://127.0.0.1:4222"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def load(url: str, headers: dict[str, str], body: dict, requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:
        for _ in range(min(20, requests)):  # warm-up
            await client.post(url, json=body)

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"p50_ms": round(percentile(latencies, 0.5), 3), "p99_ms": round(percentile(latencies, 0.99), 3),
            "mean_ms": round(statistics.fmean(latencies), 3), "rps": round(requests / elapsed, 1), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--modes", default="embedded,production")
    args = parser.parse_args()
    prompt = "measure the overhead of the gateway"
    result: dict = {"bench": "overhead", "requests": args.requests, "concurrency": args.concurrency}
    with OpenAIFake(api_key="sk-bench") as fake, tempfile.TemporaryDirectory() as tmp:
        direct_body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
        result["direct"] = asyncio.run(load(fake.base_url + "/chat/completions",
                                            {"Authorization": "Bearer sk-bench"}, direct_body, args.requests,
                                            args.concurrency))
        env = {"LLM_API_OPENAI_BASE_URL": fake.base_url, "LLM_API_OPENAI_API_KEY": "sk-bench"}
        body = {"modality": "text", "model": "openai:gpt-4o-mini", "input": {"prompt": prompt}}
        for mode in args.modes.split(","):
            data = Path(tmp) / mode
            if mode == "embedded":
                context = embedded_gateway(data, **env)
            else:
                name = "pluggably_bench_" + secrets.token_hex(4)
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                context = production_gateway(data, PG_ADMIN.rsplit("/", 1)[0] + "/" + name, NATS,
                                             prefix="bench" + secrets.token_hex(3), **env)
            try:
                with context as gateway:
                    key = gateway.user("bench")["api_key"]
                    measured = asyncio.run(load(gateway.url + "/v1/generate", {"X-API-Key": key}, body,
                                                args.requests, args.concurrency))
            finally:
                if mode != "embedded":
                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            measured["overhead_p50_ms"] = round(measured["p50_ms"] - result["direct"]["p50_ms"], 3)
            measured["overhead_p99_ms"] = round(measured["p99_ms"] - result["direct"]["p99_ms"], 3)
            result[mode] = measured
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The hot path: every figure of the issue's target table, the direct call and the gateway side by side.

For each mode (``embedded``: ``pluggably serve``; ``production``: serve + worker + project on PostgreSQL and a
private nats-server) and each surface (``POST /v1/generate``, ``POST /openai/v1/chat/completions``), in
``--rounds`` interleaved rounds (direct, then gateway, at each connection count):

- requests/s at 1, 8 and 32 connections with errors (non-2xx, socket errors, timeouts), wrk (one thread);
- non-streaming overhead at 1 connection: gateway p50/p99 minus direct p50/p99 (wrk's latency distribution);
- CPU per request over every gateway process and thread (``/proc/<pid>/stat`` deltas over the window, until the
  work the load left behind is done, divided by the generations the usage meter counted), per process, and in
  production PostgreSQL's (the bench database's backends, and the whole cluster's processes, everyone's) and
  nats-server's beside it;
- streaming (the upstream streams ``--chunks`` chunks): time to the first content chunk p50 and the whole
  stream p50, from a light raw-socket client, one connection;
- peak RSS (VmHWM) of the API process and its RSS at the end;

then one ``history`` line per mode: req/s at 8 connections on a fresh server against the same after
``--history`` requests (or ``--history-max-s`` seconds of load, whichever comes first).
Figures are medians over the rounds; every round's req/s is printed too. One JSON line per mode and surface.

    .venv/bin/python -m bench.hotpath [--modes embedded,production] [--surfaces generate,openai]
        [--duration 3] [--rounds 2] [--streams 15] [--history 20000] [--history-max-s 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    API_KEY,
    SURFACES,
    Running,
    busy_cores_since,
    direct_body,
    ensure_wrk,
    fast_upstream,
    gateway_body,
    machine,
    machine_clock,
    memory_mb,
    private_nats,
    running_gateway,
    settle,
    streams,
    usage_requests,
    wrk,
)

#: The issue's targets: overhead p50/p99 (ms), req/s at 32 connections, CPU per request (ms), TTFC overhead (ms),
#: whole stream (ratio, plus ms), peak RSS of the API process (MB).
TARGETS = {
    "embedded": {"overhead_p50": 1.0, "overhead_p99": 3.0, "rps_32": 2000, "cpu": 0.6, "ttfc": 1.0,
                 "stream": (1.1, 1.0), "rss": 150},
    "production": {"overhead_p50": 2.0, "overhead_p99": 6.0, "rps_32": 1500, "cpu": 1.0, "ttfc": 2.0,
                   "stream": (1.2, 2.0), "rss": 150},
}


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def gateway_window(gw: Running, run: Any) -> tuple[Any, dict[str, float], int, float]:
    """Run ``run()`` against the gateway; answers its result, CPU seconds by group, the generations counted and
    the machine's busy cores meanwhile. The window ends once the work the load left behind is done."""
    pids = gw.gateway_pids()
    counted = usage_requests(gw)
    meter = gw.meter()
    clock = machine_clock()
    meter.start()
    result = run()
    settle(pids)
    cpu = meter.stop()
    busy = busy_cores_since(clock)
    return result, cpu, usage_requests(gw) - counted, busy


def per_request_ms(cpu: dict[str, float], requests: int) -> dict[str, float]:
    return {name: round(seconds * 1000 / max(1, requests), 3) for name, seconds in cpu.items()}


def measure_surface(gw: Running, direct_url: str, surface: str, args: argparse.Namespace) -> dict[str, Any]:
    url = gw.url + SURFACES[surface]
    direct_headers = {"Authorization": f"Bearer {API_KEY}"}
    headers = {"X-API-Key": gw.api_key}
    conns = [int(c) for c in args.connections.split(",")]
    runs: dict[str, dict[int, list[dict]]] = {"direct": {c: [] for c in conns}, "gateway": {c: [] for c in conns}}
    cpu: dict[int, list[dict[str, float]]] = {c: [] for c in conns}
    busy: list[float] = []
    stream_runs: dict[str, list[dict]] = {"direct": [], "gateway": []}
    stream_cpu: list[dict[str, float]] = []
    for _ in range(args.rounds):
        for c in conns:
            runs["direct"][c].append(wrk(direct_url, direct_body(False), direct_headers, c, args.duration,
                                         args.wrk_timeout))
            result, used, counted, cores = gateway_window(
                gw, lambda c=c: wrk(url, gateway_body(surface, False), headers, c, args.duration, args.wrk_timeout))
            runs["gateway"][c].append(result)
            cpu[c].append(per_request_ms(used, counted))
            busy.append(cores)
        stream_runs["direct"].append(streams(direct_url, direct_body(True), direct_headers, args.streams))
        result, used, counted, _ = gateway_window(
            gw, lambda: streams(url, gateway_body(surface, True), headers, args.streams))
        stream_runs["gateway"].append(result)
        stream_cpu.append(per_request_ms(used, counted))

    def summary(path: str) -> dict[str, Any]:
        return {str(c): {"rps": median([r["rps"] for r in rs]), "rps_rounds": [r["rps"] for r in rs],
                         "p50_ms": median([r["p50_ms"] for r in rs]), "p99_ms": median([r["p99_ms"] for r in rs]),
                         "errors": {k: sum(r["errors"][k] for r in rs) for k in ("non2xx", "socket", "timeout")}}
                for c, rs in runs[path].items()}

    direct, gateway = summary("direct"), summary("gateway")
    one = str(conns[0])
    cpu_median = {str(c): {k: median([x[k] for x in xs]) for k in xs[0]} for c, xs in cpu.items()}
    roles = [name for name in gw.pids()]
    for figures in cpu_median.values():
        figures["gateway"] = round(sum(figures[r] for r in roles), 3)
    stream = {path: {k: median([r[k] for r in rs]) for k in ("ttfc_p50_ms", "total_p50_ms")}
              for path, rs in stream_runs.items()}
    stream["ttfc_overhead_p50_ms"] = round(stream["gateway"]["ttfc_p50_ms"] - stream["direct"]["ttfc_p50_ms"], 3)
    stream["total_ratio"] = round(stream["gateway"]["total_p50_ms"] / max(1e-9, stream["direct"]["total_p50_ms"]), 2)
    stream["total_overhead_ms"] = round(stream["gateway"]["total_p50_ms"] - stream["direct"]["total_p50_ms"], 3)
    stream_cpu_median = {k: median([x[k] for x in stream_cpu]) for k in stream_cpu[0]}
    stream_cpu_median["gateway"] = round(sum(stream_cpu_median[r] for r in roles), 3)
    stream["cpu_ms_per_request"] = stream_cpu_median
    memory = {name: memory_mb(pid) for name, pid in gw.pids().items()}
    top = str(conns[-1])
    figures = {
        "overhead_ms": {"p50": round(gateway[one]["p50_ms"] - direct[one]["p50_ms"], 3),
                        "p99": round(gateway[one]["p99_ms"] - direct[one]["p99_ms"], 3)},
        "rps": {"direct": {c: v["rps"] for c, v in direct.items()},
                "gateway": {c: v["rps"] for c, v in gateway.items()}},
        "direct_over_gateway": round(min(direct[c]["rps"] / max(1e-9, gateway[c]["rps"]) for c in direct), 1),
        "cpu_ms_per_request": cpu_median,
        "stream": stream,
        "memory_mb": {"api_peak": memory["serve"]["peak_mb"], "api_rss": memory["serve"]["rss_mb"],
                      "processes": memory},
        "direct": direct, "gateway": gateway,
        "busy_cores_max": max(busy),
    }
    figures["targets"] = check(gw.mode, figures, top)
    return figures


def check(mode: str, f: dict[str, Any], top: str) -> dict[str, bool]:
    t = TARGETS[mode]
    ratio, add = t["stream"]
    stream = f["stream"]
    errors = f["gateway"][top]["errors"]
    return {
        "overhead_p50": f["overhead_ms"]["p50"] <= t["overhead_p50"],
        "overhead_p99": f["overhead_ms"]["p99"] <= t["overhead_p99"],
        "rps_32": f["rps"]["gateway"][top] >= t["rps_32"] and not any(errors.values()),
        "cpu": f["cpu_ms_per_request"][top]["gateway"] <= t["cpu"],
        "ttfc": stream["ttfc_overhead_p50_ms"] <= t["ttfc"],
        "stream": stream["gateway"]["total_p50_ms"] <= ratio * stream["direct"]["total_p50_ms"] + add,
        "rss": f["memory_mb"]["api_peak"] <= t["rss"],
    }


def history(gw: Running, args: argparse.Namespace, fresh: dict[str, Any], fresh_cpu: float) -> dict[str, Any]:
    """Drive load until the server has answered ``--history`` generations (or ``--history-max-s`` passed), then
    measure again as on the fresh server."""
    url = gw.url + SURFACES["generate"]
    headers = {"X-API-Key": gw.api_key}
    body = gateway_body("generate", False)
    started = time.monotonic()
    while usage_requests(gw) < args.history and time.monotonic() - started < args.history_max_s:
        wrk(url, body, headers, 32, min(10.0, max(1.0, args.history_max_s - (time.monotonic() - started))),
            args.wrk_timeout)
    settle(gw.gateway_pids())
    served = usage_requests(gw)
    after, used, counted, _ = gateway_window(gw, lambda: wrk(url, body, headers, 8, args.duration, args.wrk_timeout))
    roles = list(gw.pids())
    after_cpu = round(sum(per_request_ms(used, counted)[r] for r in roles), 3)
    return {"after_requests": served, "drive_s": round(time.monotonic() - started, 1),
            "rps_fresh": fresh["rps"], "rps_after": after["rps"],
            "after_over_fresh": round(after["rps"] / max(1e-9, fresh["rps"]), 3),
            "cpu_ms_per_request_fresh": fresh_cpu, "cpu_ms_per_request_after": after_cpu,
            "errors_after": after["errors"], "usage_counted": served,
            "memory_mb": {name: memory_mb(pid) for name, pid in gw.pids().items()}}


def run_mode(mode: str, upstream: str, tmp: Path, nats: tuple[str, int] | None, args: argparse.Namespace,
             emit: Any) -> None:
    nats_url, nats_pid = nats if nats else (None, None)
    with running_gateway(mode, upstream, tmp, nats_url, nats_pid) as gw:
        direct_url = upstream + "/chat/completions"
        for surface in args.surfaces.split(","):  # warm-up: connections, caches, the first of everything
            wrk(gw.url + SURFACES[surface], gateway_body(surface, False), {"X-API-Key": gw.api_key}, 8, 1.0)
            streams(gw.url + SURFACES[surface], gateway_body(surface, True), {"X-API-Key": gw.api_key}, 3)
        settle(gw.gateway_pids())
        fresh, used, counted, _ = gateway_window(
            gw, lambda: wrk(gw.url + SURFACES["generate"], gateway_body("generate", False),
                            {"X-API-Key": gw.api_key}, 8, args.duration, args.wrk_timeout))
        fresh_cpu = round(sum(per_request_ms(used, counted)[r] for r in gw.pids()), 3)
        for surface in args.surfaces.split(","):
            figures = measure_surface(gw, direct_url, surface, args)
            emit({"bench": "hotpath", "mode": mode, "surface": SURFACES[surface], **figures})
        if args.history:
            emit({"bench": "hotpath", "mode": mode, "measure": "history", **history(gw, args, fresh, fresh_cpu)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument("--surfaces", default="generate,openai")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--duration", type=int, default=3, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--streams", type=int, default=15, help="streamed requests per path and round")
    parser.add_argument("--chunks", type=int, default=200, help="chunks the upstream streams")
    parser.add_argument("--wrk-timeout", type=int, default=2, help="wrk's per-request timeout (s)")
    parser.add_argument("--history", type=int, default=20000, help="requests before the second measurement; 0: none")
    parser.add_argument("--history-max-s", type=float, default=30.0, help="at most this long driving history")
    parser.add_argument("--nats-url", help="an existing NATS (default: a private nats-server for the run)")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args()
    ensure_wrk()
    run = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}

    def emit(line: dict[str, Any]) -> None:
        text = json.dumps({**line, **run})
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(text + "\n")

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hotpath-")))
        upstream, upstream_proc = stack.enter_context(fast_upstream(args.chunks))
        emit({"bench": "hotpath", "measure": "upstream",
              "direct_rps": {c: wrk(upstream + "/chat/completions", direct_body(False),
                                    {"Authorization": f"Bearer {API_KEY}"}, int(c), args.duration)["rps"]
                             for c in args.connections.split(",")}})
        for mode in args.modes.split(","):
            nats = None
            if mode == "production":
                if args.nats_url:
                    nats = (args.nats_url, 0)
                else:
                    url, proc = stack.enter_context(private_nats())
                    nats = (url, proc.pid)
            run_mode(mode, upstream, tmp, nats, args, emit)


if __name__ == "__main__":
    main()

"""Where one request's CPU goes, by stage: py-spy on every gateway process under steady load.

For each mode, a gateway on the fast upstream takes wrk load (``--connections`` 8, ``--surface``) while py-spy
records each process (embedded: serve; production: serve, worker, project) for ``--duration`` seconds, all at
once. CPU per request per process comes from ``/proc`` over the same window (divided by the generations the
usage meter counted); each stage's share of that process's samples turns it into µs per request.

A sample goes to the first stage whose rule matches: first the *owner* rules, where everything beneath a frame
belongs to it (the event-store commands, split into recorder / mapping / aggregate by the frames beneath them;
the projector, relay, usage meter, the token store, the upstream call, validation), then the nearest frame of
our code or of a named library (sanic, nats, httpx...), then generic frames (asyncio, threads). py-spy samples
with ``--gil``: only the thread holding the GIL (py-spy's idle detection counts threads blocked on a queue or a
lock as running here, so without it waiting threads would swamp the profile). A stage's µs per request is its
share of the GIL samples times the GIL-held time per request (at most the process's CPU per request); what the
process used beyond that ran outside the GIL (SQLite and libpq work, kernel time) and is its own line.

    .venv/bin/python -m bench.profile [--modes embedded,production] [--duration 15] [--connections 8]
        [--surface generate|openai] [--preload-s 0] [--keep DIR]   # DIR keeps the raw py-spy files
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    SURFACES,
    Running,
    ensure_wrk,
    fast_upstream,
    gateway_body,
    machine,
    private_nats,
    running_gateway,
    settle,
    streams,
    usage_requests,
    user_system_seconds,
    wrk,
)

PY_SPY = str(Path(sys.executable).parent / "py-spy") if (Path(sys.executable).parent / "py-spy").exists() else (
    shutil.which("py-spy") or "py-spy")
COMMANDS = ("request_generation", "start_generation", "complete_generation", "fail_generation")
SQL_LIBS = ("/sqlite3/", "eventsourcing/sqlite.py", "eventsourcing/postgres.py", "/psycopg/", "/psycopg_pool/",
            "infra/sqldb.py")

#: (stage, file substring, function names or None): owner rules; any frame of the stack.
OWNERS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("in-process bus: token store (MemoryBus._store_token)", "infra/bus/memory.py", ("_store_token",)),
    ("usage meter", "projections/usage.py", ("_on_delivery", "record")),
    ("relay", "infra/relay.py", None),
    ("projections (projector.run_once)", "projections/base.py", ("run_once", "catch_up")),
    ("read-your-writes waits (projector.wait_for/head)", "projections/base.py", ("wait_for", "positions", "head")),
    ("sweeper", "projections/sweeper.py", None),
    ("upstream call (runtime + httpx)", "runtimes/providers/", None),
    ("validation (pydantic)", "api/schemas.py", ("parse",)),
    ("validation (pydantic)", "domain/validation.py", ("parse",)),
    ("validation (pydantic)", "runtimes/options.py", None),
    ("validation (pydantic)", "api/routes/openai_compat.py", ("chat_request",)),
    ("validation (pydantic)", "api/openai/protocol.py", ("order",)),
    ("request flow: resolve targets, parameters", "api/generation_flow.py",
     ("resolve_targets", "accepted_parameters", "check_parameters")),
    ("request flow: resolve targets, parameters", "services/generation.py", ("targets", "parameters")),
    ("event store read: get aggregate (repository)", "commands/service.py", ("_get",)),
]
#: The nearest matching frame, from the leaf up.
NEAREST: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("bus: NATS client (nats-py)", "/nats/", None),
    ("bus: in-process bus (MemoryBus)", "infra/bus/memory.py", None),
    ("worker: token events (encode + publish)", "infra/bus/messages.py", ("send",)),
    ("bus: adapter (infra/bus)", "infra/bus/", None),
    ("worker: token events (encode + publish)", "runtimes/worker.py", ("encode_stream_event", "send")),
    ("thread-pool hops (run_in_executor)", "runtimes/worker.py", ("_sync", "<lambda>")),
    ("worker: loop, outcome, metrics", "runtimes/worker.py", None),
    ("API: Watch (token subscription, events)", "api/generation_flow.py", None),
    ("API: Watch (token subscription, events)", "services/generation.py", None),
    ("auth", "api/auth.py", None),
    ("auth", "services/auth.py", None),
    ("auth", "infra/passwords.py", None),
    ("auth", "api/app.py", ("authenticate", "api_key_of")),
    ("thread-pool hops (run_in_executor)", "api/bootstrap.py", ("run", "<lambda>")),
    ("thread-pool hops (run_in_executor)", "infra/threads.py", None),
    ("middleware + metrics", "api/app.py", None),
    ("middleware + metrics", "prometheus_client/", None),
    ("read models (queries)", "projections/", None),
    ("routes: handlers, JSON/SSE responses", "api/routes/", None),
    ("routes: handlers, JSON/SSE responses", "api/sse.py", None),
    ("routes: handlers, JSON/SSE responses", "api/errors.py", None),
    ("routes: handlers, JSON/SSE responses", "commands/responses.py", None),
    ("HTTP server (sanic: parsing, routing, writing)", "/sanic/", None),
    ("HTTP server (sanic: parsing, routing, writing)", "/sanic_routing/", None),
    ("HTTP server (sanic: parsing, routing, writing)", "httptools", None),
    ("upstream call (runtime + httpx)", "/httpx/", None),
    ("upstream call (runtime + httpx)", "/httpcore/", None),
    ("eventsourcing (other)", "/eventsourcing/", None),
    ("PostgreSQL client (psycopg; stack cut short)", "/psycopg", None),
    ("HTTP server (sanic: parsing, routing, writing)", "http1_request_header", None),
    ("logging", "/logging/", None),
]
OUTSIDE_GIL = "outside the GIL (SQLite/libpq C code, kernel: sockets, thread wake-ups)"
GENERIC: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("thread-pool hops (run_in_executor)", "concurrent/futures/", None),
    ("thread-pool hops (run_in_executor)", "/threading.py", None),
    ("thread-pool hops (run_in_executor)", "/queue.py", None),
    ("event loop (asyncio)", "/asyncio/", None),
    ("event loop (asyncio)", "/selectors.py", None),
    ("event loop (asyncio)", "uvloop", None),
    ("JSON (other)", "/json/", None),
    ("copies (deepcopy)", "/copy.py", None),
]


def parse_frame(frame: str) -> tuple[str, str]:
    """``function (path:line)`` → (function, path)."""
    name, _, where = frame.rpartition(" (")
    return (name, "/" + where.rsplit(":", 1)[0]) if name else (frame, "")


def _match(frame: tuple[str, str], rule: tuple[str, str, tuple[str, ...] | None]) -> bool:
    _, path, functions = rule
    return path in frame[1] and (functions is None or frame[0].rsplit(".", 1)[-1] in functions)


def command_split(command: str, below: list[tuple[str, str]]) -> str:
    """One event-store command's sample: in the recorder (SQL, commit), in mapping/transcoding, or elsewhere."""
    if any(any(lib in path for lib in SQL_LIBS) for _, path in below):
        return f"event store: {command}: recorder (SQL + commit)"
    if any("eventsourcing/persistence.py" in path or "/json/" in path for _, path in below):
        return f"event store: {command}: mapping + transcoding"
    return f"event store: {command}: aggregate + application"


def stage_of(frames: list[tuple[str, str]]) -> str:
    for i, frame in enumerate(frames):  # root first
        command = frame[0].rsplit(".", 1)[-1]
        if command in COMMANDS and frame[1].endswith("commands/service.py"):
            return command_split(command, frames[i + 1:])
    for rule in OWNERS:
        if any(_match(frame, rule) for frame in frames):
            return rule[0]
    for rules in (NEAREST, GENERIC):
        for frame in reversed(frames):
            for rule in rules:
                if _match(frame, rule):
                    return rule[0]
    return "other"


def read_raw(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's ``--format raw`` (collapsed stacks): ``frame;frame;... count``, root first."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([parse_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def _short(frame: tuple[str, str]) -> str:
    name, where = frame
    return f"{name} ({'/'.join(where.split('/')[-2:])})"


def breakdown(path: Path, cpu_ms_per_request: float, rate: int, requests: int) -> dict[str, Any]:
    """Each stage's share of the GIL samples and its µs per request: that share of the time the process held the
    GIL per request (at most its CPU per request); the CPU left over ran outside the GIL."""
    stacks = read_raw(path)
    total = sum(count for _, count in stacks) or 1
    gil_ms = total / rate * 1000 / max(1, requests)  # wall time holding the GIL, per request
    python_ms = min(gil_ms, cpu_ms_per_request)
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    unclassified: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        stage = stage_of(frames)
        stages[stage] += count
        leaves[_short(frames[-1])] += count
        if stage == "other":
            unclassified[" < ".join(_short(f) for f in reversed(frames[-3:]))] += count
    figures = {stage: {"share": round(count / total, 3), "us": round(count / total * python_ms * 1000)}
               for stage, count in stages.most_common()}
    figures[OUTSIDE_GIL] = {"share": None, "us": round((cpu_ms_per_request - python_ms) * 1000)}
    return {
        "samples": total, "gil_ms_per_request": round(gil_ms, 3),
        "stages": figures,
        "top_leaf_functions": {leaf: round(count / total, 3) for leaf, count in leaves.most_common(12)},
        "top_other": {stack: round(count / total, 3) for stack, count in unclassified.most_common(5)},
    }


def profile_mode(mode: str, gw: Running, args: argparse.Namespace, keep: Path) -> list[dict[str, Any]]:
    url = gw.url + SURFACES[args.surface]
    headers = {"X-API-Key": gw.api_key}
    body = gateway_body(args.surface, False)
    wrk(url, body, headers, args.connections, 2.0)  # warm-up
    preloaded = time.monotonic()
    while time.monotonic() - preloaded < args.preload_s:  # history before the profile
        wrk(url, body, headers, 32, min(10, max(1, round(args.preload_s - (time.monotonic() - preloaded)))))
    streams(url, gateway_body(args.surface, True), headers, 2)
    settle(gw.gateway_pids())
    meter = gw.meter()
    spies = {}
    load = subprocess.Popen([sys.executable, "-c", "import sys, json; from bench.harness import wrk; "
                             "print(json.dumps(wrk(*json.loads(sys.argv[1]))))",
                             json.dumps([url, body, headers, args.connections, args.duration + 2])],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    counted = usage_requests(gw)
    split = {name: user_system_seconds(pid) for name, pid in gw.pids().items()}
    meter.start()
    for name, pid in gw.pids().items():
        out = keep / f"{mode}-{name}.txt"
        spies[name] = (subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--duration", str(args.duration),
                                         "--rate", str(args.rate), "--gil", "--nonblocking", "--format", "raw", "--output", str(out)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out)
    for name, (spy, _) in spies.items():
        _, err = spy.communicate(timeout=args.duration + 60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy on {name} failed: {err}")
    cpu = meter.stop()  # the py-spy window, inside the load's
    split = {name: tuple(b - a for a, b in zip(split[name], user_system_seconds(pid)))
             for name, pid in gw.pids().items()}
    requests = max(1, usage_requests(gw) - counted)
    load_out, _ = load.communicate(timeout=120)
    load_result = json.loads(load_out)
    lines = []
    for name, (_, out) in spies.items():
        cpu_ms = cpu[name] * 1000 / requests
        lines.append({"bench": "profile", "mode": mode, "surface": SURFACES[args.surface], "process": name,
                      "connections": args.connections, "preload_s": args.preload_s, "rps": load_result["rps"], "requests": requests,
                      "cpu_ms_per_request": round(cpu_ms, 3),
                      "user_system_ms_per_request": [round(x * 1000 / requests, 3) for x in split[name]],
                      **breakdown(out, cpu_ms, args.rate, requests)})
    others = {k: round(v * 1000 / requests, 3) for k, v in cpu.items() if k not in spies}
    if others:
        lines.append({"bench": "profile", "mode": mode, "process": "services", "cpu_ms_per_request": others})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument("--surface", default="generate", choices=sorted(SURFACES))
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--preload-s", type=float, default=0, help="seconds of load (32 connections) before it")
    parser.add_argument("--keep", help="keep the raw py-spy files in this folder")
    parser.add_argument("--from-raw", nargs=3, metavar=("FILE", "CPU_MS", "REQUESTS"),
                        help="only break down a kept raw file: that process's CPU ms per request, the requests "
                             "in its window (at --rate)")
    args = parser.parse_args()
    if args.from_raw:
        path, cpu_ms, requests = args.from_raw
        print(json.dumps(breakdown(Path(path), float(cpu_ms), args.rate, int(requests))))
        return
    if not Path(PY_SPY).exists():
        raise SystemExit("py-spy is missing: make install-bench installs it (pip install -e '.[bench]')")
    ensure_wrk()
    stamp = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, fast_upstream() as (upstream, _):
        keep = Path(args.keep) if args.keep else Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        for mode in args.modes.split(","):
            if mode == "production":
                with private_nats() as (nats_url, nats), running_gateway(
                        mode, upstream, Path(tmp), nats_url, nats.pid) as gw:
                    lines = profile_mode(mode, gw, args, keep)
            else:
                with running_gateway(mode, upstream, Path(tmp)) as gw:
                    lines = profile_mode(mode, gw, args, keep)
            for line in lines:
                print(json.dumps({**line, **stamp}), flush=True)


if __name__ == "__main__":
    main()

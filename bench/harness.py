"""What the hot-path benchmark and the profiler share: the fast upstream, the gateways, wrk, /proc figures.

CPU comes from ``/proc/<pid>/stat`` (utime + stime of every thread, plus reaped children), memory from
``/proc/<pid>/status`` (VmHWM, VmRSS). Everything here runs on Linux only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import Gateway, embedded_gateway, free_port, production_gateway  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
WRK_SCRIPT = ROOT / "bench" / "wrk" / "post.lua"
API_KEY = "sk-bench"
PROMPT = "measure the overhead of the gateway"
TICK = os.sysconf("SC_CLK_TCK")
UPSTREAM_MODEL = "gpt-4o-mini"
MODEL = "openai:" + UPSTREAM_MODEL
SURFACES = {"generate": "/v1/generate", "openai": "/openai/v1/chat/completions"}


# -- bodies ----------------------------------------------------------------------------------------------------

def direct_body(stream: bool) -> dict[str, Any]:
    """What the gateway sends upstream for our prompt (the direct call sends the same)."""
    body: dict[str, Any] = {"model": UPSTREAM_MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def gateway_body(surface: str, stream: bool) -> dict[str, Any]:
    if surface == "generate":
        return {"modality": "text", "model": MODEL, "input": {"prompt": PROMPT}, "stream": stream}
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


# -- /proc -----------------------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces


def cpu_seconds(pid: int) -> float:
    """utime + stime of all the process's threads, plus its waited-for children."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICK


def user_system_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of all the process's threads: Python and C code against the kernel's work for it."""
    fields = _stat(pid)
    return (int(fields[11]) / TICK, int(fields[12]) / TICK) if fields else (0.0, 0.0)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def postgres_pids(dbname: str | None = None) -> list[int]:
    """The cluster's processes, or only the backends connected to ``dbname``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if Path(f"/proc/{entry.name}/comm").read_text().strip() != "postgres":
                continue
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if dbname is None or f" {dbname} " in cmdline:
            pids.append(int(entry.name))
    return pids


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                values[name] = round(int(rest.split()[0]) / 1024, 1)
    return {"peak_mb": values.get("VmHWM", 0.0), "rss_mb": values.get("VmRSS", 0.0)}


def busy_cores_since(start: tuple[float, float]) -> float:
    """Cores busy machine-wide (everyone's work) since ``start`` = ``machine_clock()``."""
    now = machine_clock()
    return round((now[1] - start[1]) / max(1e-9, now[0] - start[0]), 2)


def machine_clock() -> tuple[float, float]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return time.monotonic(), (user + nice + system + irq + softirq + steal) / TICK


@dataclass
class CpuMeter:
    """CPU seconds of named groups of processes over a window: ``start()``, then ``stop()`` answers the deltas."""

    groups: dict[str, Any]  # name -> callable answering the group's pids now
    _start: dict[str, dict[int, float]] = field(default_factory=dict)

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        deltas = {}
        for name, pids in end.items():
            before = self._start.get(name, {})
            deltas[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in pids.items())
        return deltas


def settle(pids: list[int], idle_cores: float = 0.05, step_s: float = 0.25, max_s: float = 10.0) -> float:
    """Wait until ``pids`` use under ``idle_cores`` (the work a load left behind is done); answers the wait."""
    started = time.monotonic()
    while time.monotonic() - started < max_s:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(step_s)
        if sum(cpu_seconds(p) for p in pids) - before < idle_cores * step_s:
            break
    return time.monotonic() - started


# -- processes -------------------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    """``wrk`` from Debian's packages, installed when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def fast_upstream(chunks: int = 200) -> Iterator[tuple[str, subprocess.Popen]]:
    """The zero-latency fake OpenAI upstream in its own process: ``(base_url, process)``."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.fast_upstream", "--port", "0", "--api-key", API_KEY,
                             "--chunks", str(chunks)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip() if proc.stdout else ""
        if not base_url.startswith("http"):
            raise RuntimeError("the fast upstream did not start")
        yield base_url, proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def private_nats() -> Iterator[tuple[str, subprocess.Popen | None]]:
    """A nats-server of our own (JetStream, a temporary store), so its CPU is the benchmark's alone."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as store:
        proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            yield f"nats://127.0.0.1:{port}", proc
        finally:
            proc.terminate()
            proc.wait(10)


@dataclass
class Running:
    """A gateway under benchmark: its processes by role, and the pids around it (PostgreSQL, NATS)."""

    mode: str
    gateway: Gateway
    api_key: str
    database: str | None = None
    nats_pid: int | None = None

    @property
    def url(self) -> str:
        return self.gateway.url

    def pids(self) -> dict[str, int]:
        return {name: p.proc.pid for name, p in self.gateway.processes.items()}

    def gateway_pids(self) -> list[int]:
        return [pid for root in self.pids().values() for pid in descendants(root)]

    def meter(self) -> CpuMeter:
        groups: dict[str, Any] = {name: (lambda root=root: descendants(root)) for name, root in self.pids().items()}
        if self.database:
            groups["postgres_db"] = lambda: postgres_pids(self.database)
            groups["postgres_cluster"] = postgres_pids
        if self.nats_pid:
            groups["nats"] = lambda: [self.nats_pid]
        return CpuMeter(groups)


@contextlib.contextmanager
def running_gateway(mode: str, upstream_url: str, tmp: Path, nats_url: str | None = None,
                    nats_pid: int | None = None) -> Iterator[Running]:
    """``embedded`` (``pluggably serve``) or ``production`` (serve + worker + project, PostgreSQL + NATS)."""
    import psycopg

    env = {"LLM_API_OPENAI_BASE_URL": upstream_url, "LLM_API_OPENAI_API_KEY": API_KEY}
    data = tmp / mode
    if mode == "embedded":
        with embedded_gateway(data, **env) as gateway:
            yield Running(mode, gateway, gateway.user("bench")["api_key"])
        return
    if nats_url is None:
        raise ValueError("production needs a NATS URL")
    name = "pluggably_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with production_gateway(data, PG_ADMIN.rsplit("/", 1)[0] + "/" + name, nats_url,
                                prefix="bench" + secrets.token_hex(3), **env) as gateway:
            yield Running(mode, gateway, gateway.user("bench")["api_key"], name, nats_pid)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- load ------------------------------------------------------------------------------------------------------

def wrk(url: str, body: dict[str, Any], headers: dict[str, str], connections: int, duration_s: float,
        timeout_s: float = 2.0) -> dict[str, Any]:
    """One wrk run (one thread): requests/s, latency percentiles (ms), errors, and wrk's own CPU seconds.
    wrk takes whole seconds: ``duration_s`` and ``timeout_s`` are rounded (at least 1)."""
    duration_s, timeout_s = max(1, round(duration_s)), max(1, round(timeout_s))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
    env = {**os.environ, "BENCH_BODY": f.name, "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
                              "-s", str(WRK_SCRIPT), url], env=env, capture_output=True, text=True,
                             timeout=duration_s + timeout_s + 30)
    finally:
        os.unlink(f.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds, 1), "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "errors": {"non2xx": raw["non2xx"], "socket": raw["connect"] + raw["read"] + raw["write"],
                   "timeout": raw["timeout"]},
        "wrk_cpu_s": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3),
    }


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> Any:
    """The body's pieces as they arrive (chunked, Content-Length, or until the connection closes)."""
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return
            piece = await reader.readexactly(size + 2)
            yield piece[:-2]
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while piece := await reader.read(65536):
            yield piece


async def _streams(url: str, body: bytes, headers: dict[str, str], n: int, marker: bytes) -> list[tuple[float, float]]:
    parts = urlsplit(url)
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
    request = head.encode() + body
    timings: list[tuple[float, float]] = []
    reader = writer = None
    for _ in range(n):
        if writer is None:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        assert reader is not None
        started = time.perf_counter()
        writer.write(request)
        status, response_headers = await _read_head(reader)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}")
        first, tail = None, b""
        async for piece in _body(reader, response_headers):
            if first is None and marker in tail + piece:
                first = time.perf_counter()
            tail = piece[-len(marker):]
        ended = time.perf_counter()
        timings.append(((first or ended) - started, ended - started))
        if response_headers.get("connection", "").lower() == "close" or not (
                "chunked" in response_headers.get("transfer-encoding", "") or "content-length" in response_headers):
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return timings


def streams(url: str, body: dict[str, Any], headers: dict[str, str], n: int, marker: bytes = b"tok"
            ) -> dict[str, float]:
    """``n`` streamed requests one after another on one connection: time to the first content chunk and to the
    end of the stream, p50 in ms (a light client: raw sockets, no HTTP library)."""
    timings = asyncio.run(_streams(url, json.dumps(body).encode(), headers, n, marker))
    firsts = sorted(t[0] * 1000 for t in timings)
    totals = sorted(t[1] * 1000 for t in timings)
    return {"ttfc_p50_ms": round(firsts[len(firsts) // 2], 3), "total_p50_ms": round(totals[len(totals) // 2], 3),
            "n": n}


def get_json(url: str, api_key: str) -> Any:
    import httpx

    response = httpx.get(url, headers={"X-API-Key": api_key}, timeout=30)
    response.raise_for_status()
    return response.json()


def usage_requests(gateway: Running) -> int:
    """Generations the usage meter counted for the bench user (each request once, completed or failed)."""
    return int(get_json(gateway.url + "/v1/usage", gateway.api_key)["totals"]["requests"])


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    return {"cpus": os.cpu_count(), "cpu": model, "loadavg": os.getloadavg()[0]}

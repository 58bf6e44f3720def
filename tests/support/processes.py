"""Real ``pluggably`` processes for end-to-end tests: start, wait until ready, stop; users through the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PLUGGABLY = [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_API_")}
    env.update({"LLM_API_DATA_DIR": str(data_dir), "LLM_API_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@dataclass
class Process:
    proc: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(args: list[str], env: dict[str, str], log: Path) -> Process:
    handle = open(log, "ab")
    proc = subprocess.Popen([*PLUGGABLY, *args], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return Process(proc, log)


def cli(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([*PLUGGABLY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"pluggably {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def create_user(env: dict[str, str], username: str, password: str = "correct-horse-battery", admin: bool = False
                ) -> dict[str, str]:
    args = ["users", "create", "--username", username, "--password", password, "--json"]
    return json.loads(cli(args + (["--admin"] if admin else []), env))


def wait_ready(url: str, proc: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.proc.returncode}:\n{proc.output()[-3000:]}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout}s:\n{proc.output()[-3000:]}")


@dataclass
class Gateway:
    """A running gateway: ``url``, its ``env`` (for CLI calls) and its processes."""

    url: str
    env: dict[str, str]
    data_dir: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def user(self, username: str, admin: bool = False) -> dict[str, str]:
        return create_user(self.env, username, admin=admin)

    def client(self, api_key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": api_key}, timeout=30)


@contextmanager
def embedded_gateway(data_dir: Path, **env_extra: str) -> Iterator[Gateway]:
    """``pluggably serve`` on the embedded default (SQLite, in-process bus): one process does everything."""
    port = free_port()
    env = base_env(data_dir, LLM_API_PORT=str(port), **env_extra)
    server = spawn(["serve"], env, data_dir.parent / f"{data_dir.name}-serve.log")
    gateway = Gateway(f"http://127.0.0.1:{port}", env, data_dir, {"serve": server})
    try:
        wait_ready(gateway.url, server)
        yield gateway
    finally:
        for process in gateway.processes.values():
            process.stop()


@contextmanager
def production_gateway(data_dir: Path, database_url: str, nats_url: str, prefix: str, schema: str | None = None,
                       serve_args: tuple[str, ...] = (), **env_extra: str) -> Iterator[Gateway]:
    """The production topology: ``serve`` (API only; ``serve_args`` such as ``--workers 2``), ``worker`` and
    ``project`` processes on PostgreSQL + NATS."""
    port = free_port()
    extra = {"LLM_API_DATABASE_URL": database_url, "LLM_API_NATS_URL": nats_url, "LLM_API_NATS_PREFIX": prefix,
             "LLM_API_PORT": str(port), **env_extra}
    if schema:
        extra["LLM_API_DATABASE_SCHEMA"] = schema
    env = base_env(data_dir, **extra)
    cli(["migrate"], env)
    logs = data_dir.parent
    gateway = Gateway(f"http://127.0.0.1:{port}", env, data_dir)
    try:
        gateway.processes["project"] = spawn(["project"], env, logs / f"{data_dir.name}-project.log")
        gateway.processes["worker"] = spawn(["worker"], env, logs / f"{data_dir.name}-worker.log")
        gateway.processes["serve"] = spawn(["serve", *serve_args], env, logs / f"{data_dir.name}-serve.log")
        wait_ready(gateway.url, gateway.processes["serve"])
        yield gateway
    finally:
        for process in gateway.processes.values():
            process.stop()

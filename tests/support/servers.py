"""Private PostgreSQL and NATS servers for the fault-injection tests: started on their own ports, stopped, killed
and restarted by the tests; never the machine's shared servers (5432, 4222).

PostgreSQL's ``initdb`` refuses to run as root: as root, the cluster belongs to a user of its own (``pgtest``,
created when missing), and its commands run as that user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import free_port

PG_USER = "pgtest"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name)
                                                                        else [])
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return str(found[-1])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, in a temporary directory, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pluggably-pg-"))
        self.data, self.socket_dir, self.log = self.root / "data", self.root / "run", self.root / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if subprocess.run(["id", PG_USER], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "-m", PG_USER], check=True, capture_output=True)
            self.as_user = ["runuser", "-u", PG_USER, "--"]
        self.socket_dir.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.root, PG_USER)
            shutil.chown(self.socket_dir, PG_USER)
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
                   "-E", "UTF8"])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"])
        _wait_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (clients are disconnected, like an operator's restart) or ``immediate`` (a crash)."""
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        result = subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "status"],
                                capture_output=True)
        return result.returncode == 0

    def close(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateNats:
    """A NATS server with JetStream of the test's own, on a free port; restarted on the same port and store."""

    def __init__(self, max_payload: int = 1024 * 1024) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pluggably-nats-"))
        self.config = self.root / "nats.conf"
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\nmax_payload: {max_payload}\n"
            f'jetstream {{\n  store_dir: "{self.root / "store"}"\n}}\n'
        )
        self.log = self.root / "nats.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        handle = open(self.log, "ab")
        self.proc = subprocess.Popen([binary, "-c", str(self.config)], stdout=handle, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

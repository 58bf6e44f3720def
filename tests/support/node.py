"""Running the project's TypeScript tooling from pytest: Node packages and the web app's build through the
Makefile (the one place that knows when they are stale), vitest suites with their output on failure."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.support.processes import ROOT


def make(target: str) -> None:
    """``make <target>`` (``npm-install``, ``web``, ``chromium``): a no-op when it is up to date."""
    result = subprocess.run(["make", "-s", target], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def run_vitest(project: str, stack: dict[str, Any] | None = None, timeout: int = 900) -> str:
    """``vitest run --project <project>`` (given the gateway ``stack``); its output, asserting that it passed."""
    env = {**os.environ, "CI": "1", "FORCE_COLOR": "0"}
    if stack is not None:
        env["PLUGGABLY_STACK"] = json.dumps(stack)
    junit = ROOT / "reports" / f"vitest-{project}.xml"
    junit.parent.mkdir(exist_ok=True)
    command = ["npx", "vitest", "run", "--project", project, "--reporter=default", "--reporter=junit",
               f"--outputFile.junit={junit}"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"vitest --project {project} failed:\n{output[-12000:]}"
    assert " passed" in output, output[-4000:]
    return output


def run_npm(*args: str, timeout: int = 600) -> str:
    result = subprocess.run(["npm", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm {' '.join(args)} failed:\n{output[-8000:]}"
    return output

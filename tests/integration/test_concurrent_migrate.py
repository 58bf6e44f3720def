"""Processes that start together (``serve`` and ``project`` both migrate) do not trip over each other's DDL:
PostgreSQL answers racing ``CREATE OR REPLACE FUNCTION`` with "tuple concurrently updated"."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.support.processes import PLUGGABLY, ROOT, base_env


def test_migrations_started_together_all_succeed(tmp_path: Any, pg_url: str, run_id: str) -> None:
    for round_ in range(3):
        env = base_env(tmp_path / "data", LLM_API_DATABASE_URL=pg_url,
                       LLM_API_DATABASE_SCHEMA=f"migrate_{run_id}_{round_}")
        procs = [subprocess.Popen([*PLUGGABLY, "migrate"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outputs = [(p.wait(60), p.stdout.read()) for p in procs]
        assert all(code == 0 for code, _ in outputs), [out[-2000:] for code, out in outputs if code]

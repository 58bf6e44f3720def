"""The TypeScript SDK (clients/typescript): type checks of every TypeScript part, its unit tests, and its tests
against a real ``pluggably serve`` with the OpenAI fake and a fake hub (vitest, driven from here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.node import make, run_npm, run_vitest
from tests.support.webstack import web_stack


@pytest.fixture(scope="module", autouse=True)
def node_packages() -> None:
    make("npm-install")


def test_every_typescript_part_type_checks() -> None:
    run_npm("run", "typecheck")


def test_sdk_unit_tests() -> None:
    output = run_vitest("sdk-unit")
    assert "schema.test.ts" in output  # among them: the generated types are not stale


@pytest.mark.timeout(600)
def test_sdk_against_a_real_gateway(tmp_path: Path) -> None:
    with web_stack(tmp_path) as stack:
        run_vitest("sdk-live", stack)

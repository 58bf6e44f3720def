"""Shared fixtures: a private PostgreSQL database and NATS prefix per test session, and the OpenAI fake."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("PLUGGABLY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("PLUGGABLY_TEST_NATS", "nats://127.0.0.1:4222")


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def pg_url(run_id: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"pluggably_test_{run_id}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def nats_url() -> str:
    return NATS_URL


@pytest.fixture
def unique() -> str:
    """A short unique name: schemas, NATS prefixes, usernames."""
    return "t" + secrets.token_hex(4)


@pytest.fixture(scope="session")
def openai_fake() -> Iterator[object]:
    from tests.fakes.openai_fake import OpenAIFake

    with OpenAIFake(api_key="sk-test") as fake:
        yield fake

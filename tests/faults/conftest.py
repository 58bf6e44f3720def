"""The fault-injection suite's servers: one private PostgreSQL and one private NATS for the session, on ports of
their own, stopped and restarted by the tests (never the machine's shared servers). Each test module takes a
database and a NATS prefix of its own on them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.servers import PrivateNats, PrivatePostgres


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def private_nats() -> Iterator[PrivateNats]:
    server = PrivateNats()
    server.start()
    try:
        yield server
    finally:
        server.close()


def fresh_database(server: PrivatePostgres) -> str:
    """A new database on the private server; its URL."""
    name = "faults_" + secrets.token_hex(4)
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + "/" + name

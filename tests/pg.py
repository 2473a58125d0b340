"""Throwaway PostgreSQL fixtures: `pg_server` (one server per test session) and `pg_url` (a fresh
database per test, as `postgresql://kopt@127.0.0.1:PORT/<db>`). They skip only where no server can
run here (no PostgreSQL binaries). The server itself is in tests/pgserver.py.
"""

from __future__ import annotations

import pytest
from pgserver import NoServer, throwaway_server


@pytest.fixture(scope="session")
def pg_server():
    try:
        with throwaway_server() as server:
            yield server
    except NoServer as exc:  # raised before the server starts, never from a test
        pytest.skip(f"{exc} to run the PostgreSQL study tests")


@pytest.fixture
def pg_url(pg_server) -> str:
    """A new, empty database on the session's server."""
    return pg_server.create_database()

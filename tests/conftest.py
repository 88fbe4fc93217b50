"""Shared fixtures: database engines for store contract tests (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from coordinator.store.database import make_engine

POSTGRES_URL_VAR = "DATASPACE_TEST_POSTGRES_URL"


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    """The coordinator's embedded default: a SQLite file in WAL mode."""
    engine = make_engine(None, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_db() -> Iterator[Engine]:
    """A fresh schema on the test PostgreSQL, dropped afterwards."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each store contract test runs on SQLite and, when configured, on PostgreSQL."""
    fixture: Engine = request.getfixturevalue(f"{request.param}_db")
    return fixture

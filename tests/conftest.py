"""Shared fixtures: database engines for store contract tests (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from coordinator.store import make_engine

POSTGRES_URL = os.environ.get("DATASPACE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same tests run on the embedded SQLite and, when DATASPACE_TEST_POSTGRES_URL is set, PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(None, tmp_path)
        yield eng
        eng.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("DATASPACE_TEST_POSTGRES_URL is not set")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

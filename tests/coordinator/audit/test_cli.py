"""``dataspace audit verify|show`` on a local store: refusal of a directory without one, and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from coordinator.audit.store import AuditLog
from coordinator.client.cli import app
from coordinator.identity.keys import load_or_create_keys
from tests.conftest import POSTGRES_URL_VAR

NOW = datetime(2025, 8, 1, tzinfo=UTC)
runner = CliRunner()


def _verify(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, and stdout and stderr without whitespace (the console wraps long lines)."""
    result = runner.invoke(app, ["audit", "verify", *args], env=env)
    return result.exit_code, "".join(result.stdout.split()), "".join(result.stderr.split())


def _fill(engine: Engine, data_dir: Path, size: int) -> AuditLog:
    signer = load_or_create_keys(data_dir, ["localhost"], NOW).log_signer
    log = AuditLog(engine, signer.name, signer)
    for i in range(size):
        log.append("op", "job.started", {"job": f"job-{i % 3}"}, {"n": i}, NOW)
    log.checkpoint(NOW)
    return log


@pytest.mark.parametrize("keys", [False, True], ids=["empty", "keys-without-database"])
def test_a_directory_without_a_coordinator_database_is_refused(tmp_path: Path, keys: bool) -> None:
    """Nothing is created: no SQLite file that would then verify as an empty log."""
    data_dir = tmp_path / "coordinator"
    data_dir.mkdir()
    if keys:
        load_or_create_keys(data_dir, ["localhost"], NOW)
    before = sorted(p.name for p in data_dir.iterdir())
    code, out, err = _verify("--data-dir", str(data_dir), env={"DATASPACE_DATABASE_URL": ""})
    assert code == 2, out
    assert "verified" not in out
    assert "coordinator" in err and ("coordinator.db" in err or "ca.key" in err)
    assert sorted(p.name for p in data_dir.iterdir()) == before
    shown = runner.invoke(
        app, ["audit", "show", "--data-dir", str(data_dir)], env={"DATASPACE_DATABASE_URL": ""}
    )
    assert shown.exit_code == 2
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_a_missing_directory_is_refused_and_not_created(tmp_path: Path) -> None:
    code, _out, _err = _verify("--data-dir", str(tmp_path / "nowhere"))
    assert code == 2
    assert not (tmp_path / "nowhere").exists()


def test_verify_and_show_a_sqlite_store(tmp_path: Path, sqlite_db: Engine) -> None:
    _fill(sqlite_db, tmp_path, 7)
    code, out, err = _verify("--data-dir", str(tmp_path), "--workers", "1")
    assert code == 0, err
    assert "7entries" in out and "1signedcheckpoints" in out
    shown = runner.invoke(app, ["audit", "show", "--job", "job-1", "--json", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.stderr
    assert [e["index"] for e in json.loads(shown.stdout)] == [1, 4]
    text_trail = runner.invoke(app, ["audit", "show", "--job", "nobody", "--data-dir", str(tmp_path)])
    assert "(no entries)" in text_trail.stdout
    nothing = runner.invoke(app, ["audit", "show", "--job", "x", "--json", "--data-dir", str(tmp_path)])
    assert json.loads(nothing.stdout) == []


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh, empty schema on the test PostgreSQL, as a coordinator would be given."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_verify_a_postgresql_coordinator(tmp_path: Path, postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        log = _fill(engine, tmp_path, 9)
        root, leaf = log.root(), log.entry(4).leaf_hash()
        with engine.begin() as conn:  # the tampering an intruder with database access could do
            conn.execute(text("UPDATE audit_entries SET leaf_hash = :h WHERE idx = 4"), {"h": bytes(32)})
    finally:
        engine.dispose()
    code, out, err = _verify("--data-dir", str(tmp_path), "--database-url", postgres_url)
    assert code == 1, out
    assert "firstbadindex:4" in err
    assert not (tmp_path / "coordinator.db").exists()  # never fell back to SQLite
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:  # repaired
            conn.execute(text("UPDATE audit_entries SET leaf_hash = :h WHERE idx = 4"), {"h": leaf})
    finally:
        engine.dispose()
    code, out, err = _verify("--data-dir", str(tmp_path), env={"DATASPACE_DATABASE_URL": postgres_url})
    assert code == 0, err
    assert f"9entries,root{root.hex()[:16]}" in out


def test_a_postgresql_database_without_an_audit_log_is_refused(tmp_path: Path, postgres_url: str) -> None:
    load_or_create_keys(tmp_path, ["localhost"], NOW)
    code, out, err = _verify("--data-dir", str(tmp_path), "--database-url", postgres_url)
    assert code == 2, out
    assert "noauditlog" in err
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            assert conn.execute(text(query)).scalar() == 0  # nothing was created
    finally:
        engine.dispose()

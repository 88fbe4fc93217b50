"""The README's settings table names every setting the code reads, so a deployment never needs the source."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.settings import CoordinatorSettings

ROOT = Path(__file__).parents[1]
VARIABLE = re.compile(r"DATASPACE_[A-Z0-9_]*[A-Z0-9]")


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `DATASPACE_")]
    return {name for row in rows for name in VARIABLE.findall(row.split("|")[1])}


def test_every_coordinator_setting_is_in_the_table() -> None:
    fields = {f"DATASPACE_{name.upper()}" for name in CoordinatorSettings.model_fields}
    assert fields - documented() == set()


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    read = {
        name
        for package in ("coordinator", "node", "contracts", "protocols")
        for path in (ROOT / package).rglob("*.py")
        for name in VARIABLE.findall(path.read_text(encoding="utf-8"))
    }
    tests_read = {
        name for path in (ROOT / "tests").rglob("conftest.py") for name in VARIABLE.findall(path.read_text())
    }
    assert read - documented() == set()
    assert {"DATASPACE_TEST_POSTGRES_URL"} <= tests_read & documented()

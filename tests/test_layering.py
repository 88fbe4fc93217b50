"""Layering holds: protocols pure, contracts on protocols, node and coordinator apart, rooms layered."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(declared)} kept, 0 broken" in result.stdout


def test_the_buyer_cli_imports_no_server_code() -> None:
    """A buyer's ``dataspace`` loads the gateway client only; ``coordinator serve`` brings the server."""
    probe = (
        "import sys, coordinator.client.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('coordinator.server', 'coordinator.localspace',"
        " 'coordinator.api', 'grpc', 'uvicorn'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

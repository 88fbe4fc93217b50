"""``dataspace demo`` end to end, then the operator's view of what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _dataspace(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coordinator", *args], capture_output=True, text=True,
                          check=False, timeout=timeout)  # fmt: skip


def test_demo_then_audit_verify_and_show(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    demo = _dataspace("demo", "--workdir", str(workdir), "--nodes", "3", "--rows", "2000", "--json")
    assert demo.returncode == 0, demo.stderr[-3000:]
    report = json.loads(demo.stdout)
    assert [job["kind"] for job in report["jobs"]] == ["mean", "histogram", "variance", "linear_regression"]
    assert all(job["pooled_check"]["agrees"] for job in report["jobs"])
    assert report["contract"]["state"] == "FINALIZED" and len(report["contract"]["signed_by"]) == 4
    assert (report["refused_job"]["status"], report["refused_job"]["code"]) == (403, "policy_violation")
    scored = [(name, figure, row["plaintext"][name]) for row in report["scoring"]["rows"]
              for name, figure in row["outputs"].items()]  # fmt: skip
    assert len(scored) == 4 * 3  # four production lines, three outputs, each beside its plaintext answer
    assert all(abs(f["value"] - plain) <= f["numeric_error"] for _, f, plain in scored)
    suppliers = report["suppliers"]
    assert suppliers["total"] == suppliers["plaintext"] > 0 and suppliers["contributors"] == 3
    assert sorted(p.name for p in (workdir / "factories").iterdir()) == [
        "factory-1",
        "factory-2",
        "factory-3",
    ]

    # Everything is stopped now; the operator checks the log from the data directory alone.
    data_dir = str(workdir / "coordinator")
    verified = _dataspace("audit", "verify", "--data-dir", data_dir)
    assert verified.returncode == 0, verified.stderr
    story = _dataspace("audit", "show", "--job", report["jobs"][0]["id"], "--json", "--data-dir", data_dir)
    assert story.returncode == 0, story.stderr
    kinds = [entry["kind"] for entry in json.loads(story.stdout)]
    assert kinds == ["job.submitted", "job.started", "job.succeeded", "result.released"]

"""Jobs and their states survive a coordinator crash: an interrupted run is requeued and completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from coordinator.localspace.harness import terminate

from .conftest import start_space

pytestmark = pytest.mark.e2e


def test_running_job_survives_a_coordinator_crash(tmp_path: Path) -> None:
    space = start_space(tmp_path, 3, {"DATASPACE_PARTICIPANT_WAIT_S": "120"})
    try:
        with space.buyer() as buyer:
            done = buyer.wait(buyer.submit_job({"kind": "count", "dataset": "steel_production"})["id"])
            assert done["state"] == "SUCCEEDED"
            # With every node gone, the next job is claimed and waits for participants: RUNNING.
            for factory in space.factories:
                terminate(factory.process)
            space.wait_for_nodes_exactly(0)
            pending = buyer.submit_job(
                {"kind": "mean", "dataset": "steel_production", "field": "scrap_ratio"}
            )
            deadline = time.monotonic() + 30
            while buyer.job(pending["id"])["state"] != "RUNNING":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            token = buyer.http.headers["Authorization"]

        space.restart_coordinator(crash=True)
        for factory in space.factories:
            space.start_node(factory)
        space.wait_for_nodes(3)

        with space.client(token.removeprefix("Bearer ")) as buyer:
            finished = buyer.wait(pending["id"], timeout=120)
            assert finished["state"] == "SUCCEEDED", finished["reason"]
            assert finished["attempts"] == 2
            assert buyer.result(pending["id"])["result"]["groups"][0]["n"] > 0
            # The job finished before the crash is still there, with its result.
            assert buyer.result(done["id"])["result"]["groups"][0]["n"] == 3 * 3000
    finally:
        space.stop()

"""Waiting for a job: every status read is reported, a terminal state ends the wait, a deadline ends it too.

The gateway is replaced by an httpx transport that answers a scripted sequence of states.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from coordinator.client.gateway import GatewayClient


def scripted(states: list[str]) -> tuple[GatewayClient, list[str]]:
    answers: Iterator[str] = iter(states)
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        state = next(answers, states[-1])
        return httpx.Response(200, json={"id": "job_1", "state": state})

    client = GatewayClient(
        "http://gateway.test", "t", insecure_http=True, transport=httpx.MockTransport(answer)
    )
    return client, asked


def test_progress_sees_each_state_until_a_terminal_one() -> None:
    client, asked = scripted(["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED", "FAILED"])
    seen: list[tuple[str, float]] = []

    def progress(job: dict[str, Any], waited: float) -> None:
        seen.append((job["state"], waited))

    job = client.wait("job_1", poll=0.0, progress=progress)
    assert job["state"] == "SUCCEEDED"
    assert [state for state, _ in seen] == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert all(b >= a for (_, a), (_, b) in itertools.pairwise(seen))  # time only moves on
    assert asked == ["/api/v1/jobs/job_1"] * 4


def test_a_job_that_outlasts_the_timeout_raises_with_its_state() -> None:
    client, _ = scripted(["RUNNING"])
    with pytest.raises(TimeoutError, match="job job_1 still RUNNING after 0 s"):
        client.wait("job_1", timeout=0.05, poll=0.01)

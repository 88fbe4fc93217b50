"""Fixtures that start a whole space: a coordinator process and factory-node processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.localspace.harness import LocalSpace

ROWS = 3000


def start_space(
    workdir: Path,
    n_nodes: int,
    extra_env: dict[str, str] | None = None,
    coordinator_module: str = "coordinator",
) -> LocalSpace:
    env = {"DATASPACE_ROUND_TIMEOUT_S": "20", "DATASPACE_PARTICIPANT_WAIT_S": "10", **(extra_env or {})}
    space = LocalSpace(workdir, extra_env=env)
    space.coordinator_module = coordinator_module
    space.start_coordinator()
    for i in range(n_nodes):
        space.start_node(space.add_factory(i, ROWS))
    space.wait_for_nodes(n_nodes)
    return space


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    """Four factories, each a real process holding a mutual-TLS gRPC stream to the coordinator."""
    workdir = tmp_path_factory.mktemp("space")
    local = start_space(workdir, 4, {"DATASPACE_WIRE_RECORD_DIR": str(workdir / "wire")})
    try:
        yield local
    finally:
        local.stop()

from __future__ import annotations

import pytest

from protocols.tlog.note import NoteSigner

ORIGIN = "dataspace.example/audit"


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, bytes(range(32)))

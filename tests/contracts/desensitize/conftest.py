from __future__ import annotations

import pytest

from contracts.desensitize import ContractKey, derive_contract_key

NODE_SECRET = bytes(range(32))


@pytest.fixture
def key() -> ContractKey:
    return derive_contract_key(NODE_SECRET, "contract-1")


@pytest.fixture
def other_key() -> ContractKey:
    return derive_contract_key(NODE_SECRET, "contract-2")

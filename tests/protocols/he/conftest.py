"""Keys are slow to make (Galois keys: ~1 s, 34 MB), so each kind is made once per session."""

import pytest

from protocols.he import BFV_8192, CKKS_8192, KeyOwner, PublicContext, load_public_context

THREADS = 2  # the machine is shared; TenSEAL would otherwise start one thread per core


@pytest.fixture(scope="session")
def scoring_owner() -> KeyOwner:
    return KeyOwner(CKKS_8192, galois_keys=True, n_threads=THREADS)


@pytest.fixture(scope="session")
def scoring_public(scoring_owner: KeyOwner) -> PublicContext:
    """What a node holds: the buyer's bytes, loaded through the node's checks."""
    return load_public_context(scoring_owner.public_context(), CKKS_8192, galois_keys=True, n_threads=THREADS)


@pytest.fixture(scope="session")
def ckks_owner() -> KeyOwner:
    return KeyOwner(CKKS_8192, n_threads=THREADS)


@pytest.fixture(scope="session")
def ckks_public(ckks_owner: KeyOwner) -> PublicContext:
    return load_public_context(ckks_owner.public_context(), CKKS_8192, n_threads=THREADS)


@pytest.fixture(scope="session")
def bfv_owner() -> KeyOwner:
    return KeyOwner(BFV_8192, n_threads=THREADS)


@pytest.fixture(scope="session")
def bfv_public(bfv_owner: KeyOwner) -> PublicContext:
    return load_public_context(bfv_owner.public_context(), BFV_8192, n_threads=THREADS)

import pytest

from tests.protocols.secagg.staging import SEMI_HONEST, Recording, make_config, record_run


@pytest.fixture(scope="session")
def recording() -> Recording:
    """A malicious-mode run, the default every node uses."""
    return record_run()


@pytest.fixture(scope="session")
def semi_honest_recording() -> Recording:
    return record_run(make_config(mode=SEMI_HONEST))

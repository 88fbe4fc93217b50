import pytest

from tests.protocols.secagg.staging import Recording, record_run


@pytest.fixture(scope="session")
def recording() -> Recording:
    return record_run()

import pytest

from protocols import exceptions


@pytest.mark.parametrize(
    "error",
    [
        exceptions.StageError,
        exceptions.ThresholdError,
        exceptions.InvalidMessageError,
        exceptions.FixedPointOverflowError,
    ],
)
def test_every_error_is_a_protocol_error(error: type[Exception]) -> None:
    assert issubclass(error, exceptions.ProtocolError)
    assert error.__name__ in (exceptions.__doc__ or "")

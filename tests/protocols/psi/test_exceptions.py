import pytest

from protocols.exceptions import InvalidMessageError, ProtocolError
from protocols.psi import exceptions


@pytest.mark.parametrize(
    "error",
    [
        exceptions.PsiError,
        exceptions.UnknownNormalizationError,
        exceptions.InvalidKeyError,
        exceptions.ValueBoundError,
        exceptions.DiscreteLogError,
        exceptions.InvalidPointError,
    ],
)
def test_every_error_is_a_protocol_error_drawn_in_the_docstring(error: type[Exception]) -> None:
    assert issubclass(error, ProtocolError)
    assert error.__name__ in (exceptions.__doc__ or "")


def test_a_bad_point_blames_the_peer() -> None:
    assert issubclass(exceptions.InvalidPointError, InvalidMessageError)
    assert not issubclass(exceptions.InvalidPointError, exceptions.PsiError)

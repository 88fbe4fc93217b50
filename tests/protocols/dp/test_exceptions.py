"""The dp errors hang under the protocols base and are drawn in the module docstring."""

from protocols.dp import exceptions
from protocols.exceptions import ProtocolError


def test_every_dp_error_is_a_protocol_error_and_documented() -> None:
    for error in (exceptions.DPError, exceptions.BudgetExceededError):
        assert issubclass(error, ProtocolError)
        assert error.__name__ in (exceptions.__doc__ or "")
    assert issubclass(exceptions.BudgetExceededError, exceptions.DPError)

"""The HE errors hang under the protocols base and are drawn in the module docstring."""

from protocols.exceptions import InvalidMessageError, ProtocolError
from protocols.he import exceptions


def test_every_he_error_is_a_protocol_error_and_documented() -> None:
    errors = (
        exceptions.HEError,
        exceptions.HEMessageError,
        exceptions.SecretKeyInContextError,
        exceptions.CapacityError,
    )
    for error in errors:
        assert issubclass(error, exceptions.HEError)
        assert issubclass(error, ProtocolError)
        assert error.__name__ in (exceptions.__doc__ or "")


def test_message_errors_map_like_any_invalid_message() -> None:
    assert issubclass(exceptions.HEMessageError, InvalidMessageError)
    assert issubclass(exceptions.SecretKeyInContextError, InvalidMessageError)
    assert not issubclass(exceptions.CapacityError, InvalidMessageError)

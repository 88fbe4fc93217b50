"""Participant identities: the organisation's unified social credit code (USCC), checksum-validated."""

from __future__ import annotations

from enum import StrEnum

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError


class Role(StrEnum):
    """What a participant may do in the space."""

    FACTORY = "factory"
    BUYER = "buyer"
    OPERATOR = "operator"


class InvalidParticipantIdError(ValueError):
    """The participant id is not a valid unified social credit code."""


def validate_participant_id(value: str) -> str:
    """Return the compact, validated USCC or raise InvalidParticipantIdError saying why."""
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise InvalidParticipantIdError(
            f"{value!r} is not a valid unified social credit code: {exc}"
        ) from exc


def make_participant_id(body17: str) -> str:
    """Complete 17 USCC characters with their check digit (for sample and test identities)."""
    return body17 + str(uscc.calc_check_digit(body17))

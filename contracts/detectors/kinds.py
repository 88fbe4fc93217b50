"""What the detectors look for: kinds of identifiers, how sure a match is, and where it sits in a value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """A kind of identifier; ``EMPLOYEE_ID`` is recognised from column names only (no value format)."""

    RESIDENT_ID = "resident_id"  # 18-digit resident identity card number (GB 11643)
    RESIDENT_ID_15 = "resident_id_15"  # 15-digit first-generation card number, no check digit
    MOBILE = "mobile"  # mainland mobile number; column names for any phone number map here too
    BANK_CARD = "bank_card"
    USCC = "uscc"  # unified social credit code of an organisation (GB 32100)
    EMAIL = "email"
    LICENCE_PLATE = "licence_plate"
    PERSON_NAME = "person_name"
    EMPLOYEE_ID = "employee_id"

    @property
    def personal(self) -> bool:
        """Whether the kind identifies a natural person (a credit code identifies an organisation)."""
        return self is not Kind.USCC

    @property
    def sensitive(self) -> bool:
        """Sensitive personal information (PIPL art. 28): identity documents and financial accounts."""
        return self in (Kind.RESIDENT_ID, Kind.RESIDENT_ID_15, Kind.BANK_CARD)

    @property
    def tag(self) -> str | None:
        """The semantic tag of ``contracts.vocabulary.TAGS`` for a column of this kind, if there is one."""
        return _TAGS.get(self)


_TAGS = {
    Kind.RESIDENT_ID: "id_card_number",
    Kind.RESIDENT_ID_15: "id_card_number",
    Kind.MOBILE: "phone_number",
    Kind.EMAIL: "email_address",
    Kind.PERSON_NAME: "person_name",
    Kind.EMPLOYEE_ID: "employee_id",
}


class Confidence(StrEnum):
    """How strongly a match is supported beyond its format and check digit."""

    LOW = "low"  # format only, or a format without a check digit
    MEDIUM = "medium"  # format and check digit (or date) hold
    HIGH = "high"  # as medium, plus corroboration: a known region code, a card-scheme prefix, ...

    @property
    def rank(self) -> int:
        return {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}[self]


@dataclass(frozen=True, slots=True)
class Match:
    """One identifier found in a text, at ``text[start:end]``."""

    kind: Kind
    start: int
    end: int
    confidence: Confidence

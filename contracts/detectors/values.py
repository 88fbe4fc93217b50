"""Detectors of identifiers in values: one finder per kind, and ``find_identifiers`` which runs them all.

Every finder reports exact character positions. Digit-based identifiers must stand alone: an ASCII letter or
digit right before or after a candidate (``PO13812345678``, ``SN6222...``) means it is part of another code,
while CJK text, spaces and punctuation around it do not (``电话：138-1234-5678。``). Where the same characters
fit several kinds, ``find_identifiers`` keeps the most specific (see ``PRIORITY``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType
from typing import Final

from contracts.detectors.checks import (
    PROVINCES,
    known_region,
    luhn_valid,
    organisation_code_valid,
    plausible_birth_date,
    ric_check_digit,
    uscc_valid,
)
from contracts.detectors.kinds import Confidence, Kind, Match
from contracts.detectors.names import looks_like_name
from contracts.detectors.text import fold

_BEFORE: Final = r"(?<![0-9A-Za-z])"
_AFTER: Final = r"(?![0-9A-Za-z])"

Finder = Callable[[str, date], Iterator[Match]]


@dataclass(frozen=True)
class Detector:
    """Finds one kind of identifier in a text; ``today`` bounds birth dates."""

    kind: Kind
    find: Finder


# ----------------------------------------------------------------------------- resident identity numbers

_RIC18: Final = re.compile(_BEFORE + r"\d{17}[0-9Xx]" + _AFTER, re.ASCII)
_RIC15: Final = re.compile(_BEFORE + r"\d{15}" + _AFTER, re.ASCII)


def find_resident_ids(text: str, today: date) -> Iterator[Match]:
    """18 digits (the last may be X): province, a birth date from 1900 to today, ISO 7064 MOD 11-2.

    The full region table only raises confidence: python-stdnum's ``ric.validate`` also requires the county
    to have existed in the birth year, which refuses many real cards (codes are renamed and merged).
    """
    for m in _RIC18.finditer(text):
        number = m.group().upper()
        if (
            number[:2] in PROVINCES
            and plausible_birth_date(int(number[6:10]), int(number[10:12]), int(number[12:14]), today)
            and ric_check_digit(number[:17]) == number[17]
        ):
            confidence = Confidence.HIGH if known_region(number[:6]) else Confidence.MEDIUM
            yield Match(Kind.RESIDENT_ID, m.start(), m.end(), confidence)


def find_legacy_resident_ids(text: str, today: date) -> Iterator[Match]:
    """15-digit first-generation numbers (birth date 19YYMMDD, no check digit): the region must be known."""
    for m in _RIC15.finditer(text):
        number = m.group()
        if (
            number[:2] in PROVINCES
            and plausible_birth_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]), today)
            and known_region(number[:6])
        ):
            yield Match(Kind.RESIDENT_ID_15, m.start(), m.end(), Confidence.LOW)


# --------------------------------------------------------------------------------------- mobile numbers

_MOBILE: Final = re.compile(
    _BEFORE + r"(?:(?:\+|00)?86[ -]?)?(1[3-9]\d)([ -]?)\d{4}\2\d{4}" + _AFTER, re.ASCII
)
# Segments the numbering plan has opened to public mobile service; others are IoT, satellite or unassigned.
_MOBILE_SEGMENTS: Final = re.compile(r"13\d|14[5-9]|15[0-35-9]|16[2567]|17[0-8]|18\d|19[0-35-9]", re.ASCII)


def find_mobiles(text: str, today: date) -> Iterator[Match]:
    """Mainland mobile numbers: 1[3-9] and nine digits, optional +86/0086/86, spaces or hyphens as 3-4-4."""
    for m in _MOBILE.finditer(text):
        segment_open = _MOBILE_SEGMENTS.fullmatch(m.group(1)) is not None
        yield Match(Kind.MOBILE, m.start(), m.end(), Confidence.HIGH if segment_open else Confidence.MEDIUM)


# ------------------------------------------------------------------------------------------ bank cards

_CARD: Final = re.compile(
    _BEFORE + r"(?:\d{16,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1?\d{1,3})?)" + _AFTER, re.ASCII
)
# Issuer prefixes common in China: UnionPay 62, Visa 4, Mastercard 51-55 and 2221-2720, JCB 35, and the
# domestic 60 and 9 ranges of older debit cards.
_KNOWN_BIN: Final = re.compile(r"62|4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|35|60|9", re.ASCII)


def find_bank_cards(text: str, today: date) -> Iterator[Match]:
    """16-19 digits passing Luhn, plain or in groups of four, from a card-issuing industry.

    The first digit must be 3-6 or 9 (or the Mastercard 2221-2720 range): 1, 7, 8 and most 2s are airline,
    petroleum and telecom numbers, and keep date-led order numbers and millisecond timestamps out.
    """
    for m in _CARD.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        known = _KNOWN_BIN.match(digits) is not None
        if 16 <= len(digits) <= 19 and (known or digits[0] in "3456") and luhn_valid(digits):
            yield Match(Kind.BANK_CARD, m.start(), m.end(), Confidence.HIGH if known else Confidence.MEDIUM)


# ------------------------------------------------------------------------------ unified social credit codes

_USCC: Final = re.compile(_BEFORE + r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}" + _AFTER, re.ASCII)


def find_credit_codes(text: str, today: date) -> Iterator[Match]:
    """GB 32100 codes in upper case; a valid organisation code (places 9-17, GB 11714) raises confidence."""
    for m in _USCC.finditer(text):
        code = m.group()
        if uscc_valid(code):
            confidence = Confidence.HIGH if organisation_code_valid(code[8:17]) else Confidence.MEDIUM
            yield Match(Kind.USCC, m.start(), m.end(), confidence)


# ------------------------------------------------------------------------------------- e-mail addresses

_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    re.ASCII,
)


def find_emails(text: str, today: date) -> Iterator[Match]:
    for m in _EMAIL.finditer(text):
        yield Match(Kind.EMAIL, m.start(), m.end(), Confidence.MEDIUM)


# ------------------------------------------------------------------------------------------ licence plates

PROVINCE_ABBREVIATIONS: Final = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE: Final = re.compile(
    rf"[{PROVINCE_ABBREVIATIONS}]([A-Z])[·• -]?"
    r"(?:[DF][A-HJ-NP-Z0-9]\d{4}|\d{5}[DF]|([A-HJ-NP-Z0-9]{4}[A-HJ-NP-Z0-9挂学警港澳领试超]))" + _AFTER,
    re.ASCII,
)


def find_plates(text: str, today: date) -> Iterator[Match]:
    """Province, issuing letter, then five characters (at most two letters) or a six-character green plate."""
    for m in _PLATE.finditer(text):
        serial = m.group(2)
        if serial is not None and sum(c.isdigit() for c in serial) < 3:
            continue
        # No issuing authority uses I; O marks police vehicles in a few provinces.
        confidence = Confidence.LOW if m.group(1) == "I" else Confidence.MEDIUM
        yield Match(Kind.LICENCE_PLATE, m.start(), m.end(), confidence)


# ------------------------------------------------------------------------------------------- person names


def find_person_names(text: str, today: date) -> Iterator[Match]:
    """The whole (stripped) value, if it looks like a Chinese name; only run on columns of names."""
    stripped = text.strip()
    if looks_like_name(stripped):
        start = text.index(stripped)
        yield Match(Kind.PERSON_NAME, start, start + len(stripped), Confidence.LOW)


# ----------------------------------------------------------------------------------------------- all kinds

DETECTORS: Final[Mapping[Kind, Detector]] = MappingProxyType(
    {
        d.kind: d
        for d in (
            Detector(Kind.RESIDENT_ID, find_resident_ids),
            Detector(Kind.RESIDENT_ID_15, find_legacy_resident_ids),
            Detector(Kind.MOBILE, find_mobiles),
            Detector(Kind.BANK_CARD, find_bank_cards),
            Detector(Kind.USCC, find_credit_codes),
            Detector(Kind.EMAIL, find_emails),
            Detector(Kind.LICENCE_PLATE, find_plates),
            Detector(Kind.PERSON_NAME, find_person_names),
        )
    }
)
VALUE_KINDS: Final = tuple(DETECTORS)
# Which kind keeps characters that several kinds claim: an e-mail address swallows the phone number in its
# local part; a resident ID beats a credit code or card number that happens to pass its check too (about
# one in 31, and one in 10). A credit code without a valid organisation code yields to a card number.
PRIORITY: Final = (
    Kind.EMAIL,
    Kind.RESIDENT_ID,
    Kind.USCC,
    Kind.BANK_CARD,
    Kind.RESIDENT_ID_15,
    Kind.MOBILE,
    Kind.LICENCE_PLATE,
    Kind.PERSON_NAME,
)


def _precedence(match: Match) -> tuple[int, int]:
    if match.kind is Kind.USCC and match.confidence is not Confidence.HIGH:
        return PRIORITY.index(Kind.BANK_CARD), 1
    return PRIORITY.index(match.kind), 0


# Every kind but names needs four digits in a row, an "@" or a province abbreviation: most values of a
# factory table have none, and skip the detectors.
_WORTH_A_LOOK: Final = re.compile(rf"\d{{4}}|@|[{PROVINCE_ABBREVIATIONS}]", re.ASCII)
_UNNAMED_FINDERS: Final = tuple(DETECTORS[k].find for k in VALUE_KINDS if k is not Kind.PERSON_NAME)


def find_identifiers(text: str, *, today: date, names: bool = False) -> list[Match]:
    """Every identifier in ``text``, non-overlapping, in order of position (positions index ``text``).

    Full-width characters, other scripts' digits and invisible format characters are folded first (see
    ``contracts.detectors.text``). Person names are looked for only with ``names=True``: in a column
    declared or named as holding names.
    """
    folded, origin = fold(text)
    matches = _find(folded, today, names)
    if origin is None:
        return matches
    return [replace(m, start=origin[m.start], end=origin[m.end - 1] + 1) for m in matches]


def _find(text: str, today: date, names: bool) -> list[Match]:
    candidates: list[Match] = []
    if _WORTH_A_LOOK.search(text) is not None:
        candidates = [m for find in _UNNAMED_FINDERS for m in find(text, today)]
    if names:
        candidates += find_person_names(text, today)
    if len(candidates) <= 1:
        return candidates
    kept: list[Match] = []
    for candidate in sorted(candidates, key=_precedence):
        if all(candidate.end <= k.start or k.end <= candidate.start for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda m: m.start)

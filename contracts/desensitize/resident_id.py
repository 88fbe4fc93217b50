"""Checksum-valid surrogates for 18-digit resident identity numbers (GB 11643): region, birth date, sequence.

The birth year, and the whole date under ``birth_date="keep"``, is kept and so is the sequence parity
(the sex) under ``keep_sex``; what is kept goes into the tweak. The rest — region, day of the year,
sequence — is read as one mixed-radix number and moved by a keyed derangement. A region code in use in the
birth year maps to another code in use that year, any other code to another code that is not, so the
surrogate is exactly as valid as the input (a valid id gives one that ``stdnum.cn.ric.validate``
accepts) and the map stays a bijection. The check character is recomputed (ISO 7064 MOD 11-2).
"""

from __future__ import annotations

from calendar import isleap
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from contracts.desensitize.fpe import Derangement, split_rank, split_unrank
from contracts.desensitize.regions import codes_in_use
from protocols.ff1 import FF1

BirthDate = Literal["keep", "year"]
_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK: Final = "10X98765432"
_REGIONS: Final = 1_000_000


def check_character(body17: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(body17, _WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class ResidentIdParts:
    region: int
    born: date
    sequence: int


def parse(number: str) -> ResidentIdParts:
    """The parts of a well-formed id; raise ValueError saying what is wrong (never echoing the id)."""
    text = number.strip().upper()
    if len(text) != 18 or not text[:17].isascii() or not text[:17].isdigit():
        raise ValueError("not 17 digits and a check character")
    if text[17] != check_character(text[:17]):
        raise ValueError("the check character is wrong")
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValueError("the birth date is not a date") from None
    return ResidentIdParts(int(text[:6]), born, int(text[14:17]))


def compose(parts: ResidentIdParts) -> str:
    body = f"{parts.region:06d}{parts.born:%Y%m%d}{parts.sequence:03d}"
    return body + check_character(body)


class ResidentIdSurrogate:
    """``forward`` maps an id to its surrogate under ``key``; ``backward`` undoes it."""

    def __init__(self, key: bytes, *, birth_date: BirthDate = "year", keep_sex: bool = False) -> None:
        self._cipher = FF1(key, 2)
        self._birth_date = birth_date
        self._keep_sex = keep_sex

    def forward(self, number: str) -> str:
        return self._map(number, backward=False)

    def backward(self, surrogate: str) -> str:
        return self._map(surrogate, backward=True)

    def _map(self, number: str, *, backward: bool) -> str:
        parts = parse(number)
        year = parts.born.year
        in_use = codes_in_use(year)
        member, region, regions = split_rank(in_use, parts.region, _REGIONS)
        if self._birth_date == "keep":
            days, day, kept = 1, 0, parts.born.isoformat()
        else:
            days = 366 if isleap(year) else 365
            day, kept = (parts.born - date(year, 1, 1)).days, str(year)
        sequences, sequence, parity = 1000, parts.sequence, "-"
        if self._keep_sex:
            sequences, (sequence, sex) = 500, divmod(parts.sequence, 2)
            parity = str(sex)
        tweak = f"resident_id|{self._birth_date}|{kept}|{member}|{parity}".encode()
        perm = Derangement(self._cipher, regions * days * sequences, tweak)
        value = (region * days + day) * sequences + sequence
        value = perm.backward(value) if backward else perm.forward(value)
        value, sequence = divmod(value, sequences)
        region, day = divmod(value, days)
        return compose(
            ResidentIdParts(
                region=split_unrank(in_use, member, region),
                born=parts.born if self._birth_date == "keep" else date(year, 1, 1) + timedelta(days=day),
                sequence=sequence * 2 + int(parity) if self._keep_sex else sequence,
            )
        )

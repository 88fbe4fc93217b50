"""Check digits and structural tests of Chinese identifiers and card numbers, on compact strings.

Each function takes the characters of one candidate (no separators) and returns a bool; the regular
expressions in ``contracts.detectors.values`` decide what a candidate is.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Final

from stdnum import numdb
from stdnum.cn import uscc

# First two digits of a GB/T 2260 division code: the provinces, plus 71 Taiwan, 81 Hong Kong, 82 Macao and
# 83, which the residence permits of Taiwan residents use.
_PROVINCE_RANGES: Final = ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 83))
PROVINCES: Final = frozenset(str(c) for low, high in _PROVINCE_RANGES for c in range(low, high + 1))
EARLIEST_BIRTH_YEAR: Final = 1900

_RIC_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))


def ric_check_digit(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident identity number."""
    total = sum(int(c) * w for c, w in zip(body17, _RIC_WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def plausible_birth_date(year: int, month: int, day: int, today: date) -> bool:
    """A real calendar date from 1900 up to ``today``."""
    if year < EARLIEST_BIRTH_YEAR:
        return False
    try:
        return date(year, month, day) <= today
    except ValueError:
        return False


def known_region(code6: str) -> bool:
    """Whether python-stdnum's division table knows the county-level code (any year)."""
    return _known_region(code6)


@lru_cache(maxsize=8192)
def _known_region(code6: str) -> bool:
    # The table lists counties under their province; a code only its province matches is unknown. Years of
    # validity are ignored on purpose: cards keep the code of the year they were issued.
    parts = numdb.get("cn/loc").info(code6)
    return len(parts) > 1 and bool(parts[-1][1])


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of card numbers."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100 position 1: the registering authority (机构编制, 外交, 司法行政, 文化, 民政, 旅游, 宗教, 工会,
# 市场监管, 中央军委改革和编制办公室, 农业, 其他).
USCC_AUTHORITIES: Final = frozenset("123456789ANY")
# Position 2, the kind of entity within the authority (企业, 个体工商户, 事业单位, ...): never 0 or a letter.
USCC_CATEGORIES: Final = frozenset("123456789")


def uscc_valid(code18: str) -> bool:
    """GB 32100 mod-31 check of an upper-case 18-character unified social credit code.

    ``contracts.identity.validate_participant_id`` applies the same check through python-stdnum, but also
    demands digits in the first eight places, which refuses codes registered by the authorities A, N and Y.
    """
    return (
        code18[0] in USCC_AUTHORITIES
        and code18[1] in USCC_CATEGORIES
        and uscc.calc_check_digit(code18[:17]) == code18[17]
    )


_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)


def organisation_code_check(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body (letters count 10..35)."""
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def organisation_code_valid(code9: str) -> bool:
    """Whether the nine characters carry a valid GB 11714 check (places 9..17 of a credit code)."""
    return organisation_code_check(code9[:8]) == code9[8]

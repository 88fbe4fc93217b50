"""Checksum-valid surrogates for unified social credit codes (GB 32100-2015).

The registration authority and entity type (characters 1-2) are kept, in the tweak. The region code
(3-8) and the organisation code (9-17, GB 11714 with its own check character) are read as one mixed-radix
number and moved by a keyed derangement, class by class: a region code in use maps to one in use and any
other to another that is not; an organisation code with a correct GB 11714 check character maps to another
such code, any other to another that is not. So the surrogate is exactly as valid as the input and the map
is a bijection. The mod-31 check character (18) is recomputed.
"""

from __future__ import annotations

from typing import Final

from stdnum.cn import uscc

from contracts.desensitize.fpe import Derangement, split_rank, split_unrank
from contracts.desensitize.regions import codes_ever
from protocols.ff1 import FF1

ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
_INDEX: Final = {c: i for i, c in enumerate(ALPHABET)}
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_BODIES: Final = len(ALPHABET) ** 8
_REGIONS: Final = 1_000_000


def organisation_check(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code_check(body17: str) -> str:
    return str(uscc.calc_check_digit(body17))


def parse(code: str) -> str:
    """The compact code if well-formed; raise ValueError saying what is wrong (never echoing the code)."""
    text = code.strip().upper()
    if len(text) != 18 or not text[:8].isascii() or not text[:8].isdigit():
        raise ValueError("not 8 digits and 10 code characters")
    if any(c not in _INDEX for c in text[8:]):
        raise ValueError("a character outside the GB 32100 alphabet")
    if text[17] != credit_code_check(text[:17]):
        raise ValueError("the check character is wrong")
    return text


class CreditCodeSurrogate:
    """``forward`` maps a code to its surrogate under ``key``; ``backward`` undoes it."""

    def __init__(self, key: bytes) -> None:
        self._cipher = FF1(key, 2)

    def forward(self, code: str) -> str:
        return self._map(code, backward=False)

    def backward(self, surrogate: str) -> str:
        return self._map(surrogate, backward=True)

    def _map(self, code: str, *, backward: bool) -> str:
        text = parse(code)
        in_use, body, check = codes_ever(), text[8:16], text[16]
        member, region, regions = split_rank(in_use, int(text[2:8]), _REGIONS)
        correct = organisation_check(body)
        valid_org = check == correct
        wrong = [c for c in ALPHABET if c != correct]  # the 30 other check characters
        orgs = _BODIES if valid_org else _BODIES * len(wrong)
        org = _number(body) if valid_org else _number(body) * len(wrong) + wrong.index(check)
        tweak = f"uscc|{text[:2]}|{member}|{valid_org}".encode()
        perm = Derangement(self._cipher, regions * orgs, tweak)
        value = region * orgs + org
        value = perm.backward(value) if backward else perm.forward(value)
        region, org = divmod(value, orgs)
        if valid_org:
            body = _text(org)
            check = organisation_check(body)
        else:
            org, slot = divmod(org, len(wrong))
            body = _text(org)
            check = [c for c in ALPHABET if c != organisation_check(body)][slot]
        head = f"{text[:2]}{split_unrank(in_use, member, region):06d}{body}{check}"
        return head + credit_code_check(head)


def _number(body: str) -> int:
    value = 0
    for c in body:
        value = value * len(ALPHABET) + _INDEX[c]
    return value


def _text(value: int) -> str:
    out = []
    for _ in range(8):
        value, digit = divmod(value, len(ALPHABET))
        out.append(ALPHABET[digit])
    return "".join(reversed(out))

"""Folding of a value before detection, with a map back to the positions of the original text.

Full-width forms and other scripts' digits become ASCII, and invisible format characters are dropped.

Chinese input methods type full-width digits (１３８…) and copied text carries zero-width spaces; an
identifier written either way is still the identifier.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_FULL_WIDTH_OFFSET: Final = 0xFEE0  # U+FF01..U+FF5E are U+0021..U+007E
_IDEOGRAPHIC_SPACE: Final = 0x3000
_INVISIBLE: Final = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


class _Fold(dict[int, int]):
    """A ``str.translate`` table that works each code point out once: every mapping is one to one."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        if 0xFF01 <= code <= 0xFF5E:
            folded = code - _FULL_WIDTH_OFFSET
        elif code == _IDEOGRAPHIC_SPACE:
            folded = ord(" ")
        elif char.isdecimal():
            folded = ord("0") + unicodedata.decimal(char)
        else:
            folded = code
        self[code] = folded
        return folded


_FOLD: Final = _Fold()


def fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text, and for each of its characters the index it came from (None when unchanged)."""
    if text.isascii():
        return text, None
    folded = text.translate(_FOLD)
    if _INVISIBLE.search(folded) is None:
        return folded, None
    kept = [i for i, c in enumerate(folded) if _INVISIBLE.match(c) is None]
    return "".join(folded[i] for i in kept), kept

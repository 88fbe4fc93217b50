"""The one byte layout of every PSI message: sections of fixed-width items made of 32-byte group elements.

A message is a fixed sequence of sections; each is a 4-byte big-endian item count followed by that many
items, and each item is ``width`` group elements (1 for a point, 2 for an ElGamal ciphertext, 3 for a blinded
key with its ciphertext). So a transcript carries nothing but counts and group elements, and a parser can
split it without knowing what the elements mean. Counts are bounded before anything is allocated, so a
hostile peer cannot make a party reserve memory by announcing a huge section.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.exceptions import InvalidMessageError
from protocols.psi.ristretto import POINT_BYTES

COUNT_BYTES = 4
# A million items: 32 MB per section of points, far above the 10^4..10^5 keys the contracts expect.
DEFAULT_MAX_ITEMS = 1_000_000


def encode(sections: Sequence[Sequence[bytes]], widths: Sequence[int]) -> bytes:
    """Concatenate each section as count ‖ items; every item must be exactly width·32 bytes."""
    if len(sections) != len(widths):
        raise ValueError(f"{len(sections)} sections but {len(widths)} widths")
    parts: list[bytes] = []
    for items, width in zip(sections, widths, strict=True):
        size = width * POINT_BYTES
        if any(len(item) != size for item in items):
            raise ValueError(f"every item of this section is {size} bytes")
        parts.append(len(items).to_bytes(COUNT_BYTES, "big"))
        parts.extend(items)
    return b"".join(parts)


def decode(
    data: bytes, widths: Sequence[int], max_items: int = DEFAULT_MAX_ITEMS
) -> tuple[tuple[bytes, ...], ...]:
    """Split ``data`` into len(widths) sections of width·32-byte items, or raise InvalidMessageError.

    Only the framing is checked here; the round functions check each group element when they use it.
    """
    if not isinstance(data, bytes):
        raise InvalidMessageError("a PSI message is bytes")
    sections: list[tuple[bytes, ...]] = []
    offset = 0
    view = memoryview(data)
    for width in widths:
        if offset + COUNT_BYTES > len(data):
            raise InvalidMessageError("PSI message is truncated before a section count")
        count = int.from_bytes(view[offset : offset + COUNT_BYTES], "big")
        offset += COUNT_BYTES
        if count > max_items:
            raise InvalidMessageError(
                f"a section announces {count} items, more than the limit of {max_items}"
            )
        size = width * POINT_BYTES
        end = offset + count * size
        if end > len(data):
            raise InvalidMessageError("PSI message section runs past the end of the data")
        sections.append(tuple(data[start : start + size] for start in range(offset, end, size)))
        offset = end
    if offset != len(data):
        raise InvalidMessageError("PSI message has trailing bytes")
    return tuple(sections)

"""Unambiguous encoding of a fixed number of byte fields, for KDF info, AEAD data and share plaintexts."""

from protocols.exceptions import InvalidMessageError

_LENGTH_BYTES = 4


def frame(*fields: bytes) -> bytes:
    """Concatenate fields, each preceded by its 4-byte big-endian length."""
    return b"".join(len(field).to_bytes(_LENGTH_BYTES, "big") + field for field in fields)


def unframe(data: bytes, count: int) -> tuple[bytes, ...]:
    """Split the output of ``frame`` back into exactly ``count`` fields, or raise InvalidMessageError."""
    fields: list[bytes] = []
    offset = 0
    for _ in range(count):
        if offset + _LENGTH_BYTES > len(data):
            raise InvalidMessageError("framed data is truncated")
        size = int.from_bytes(data[offset : offset + _LENGTH_BYTES], "big")
        offset += _LENGTH_BYTES
        if offset + size > len(data):
            raise InvalidMessageError("framed field runs past the end of the data")
        fields.append(data[offset : offset + size])
        offset += size
    if offset != len(data):
        raise InvalidMessageError("framed data has trailing bytes")
    return tuple(fields)

"""The byte formats at the HE boundary, read strictly and written in one place.

TenSEAL wraps SEAL objects in protobuf messages (``CKKSVectorProto``/``BFVVectorProto``: field 1 packed chunk
sizes, field 2 one SEAL ciphertext per chunk, field 3 the CKKS scale; ``TenSEALContextProto``: field 1
parameters, 2 public part, 3 private part, 4 encryption type). TenSEAL itself trusts these: it does not check
that there are as many sizes as ciphertexts or that a size fits the slots, and it reads ``size`` slots when it
decrypts. So every message from a peer is parsed here first, and only a message that is exactly what we expect
goes on to TenSEAL. We also write one SEAL object ourselves, the transparent mask ciphertext of ``masking``.

What the caps do not bound: SEAL inflates a compressed (zstd) object in memory before reading its members
(into a buffer its source limits to 2 GiB), so a small hostile object can still make one load allocate that
much before it fails. Bounding it here would need a zstd decoder in Python, which the standard library lacks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from protocols.he._seal import seal_version
from protocols.he.exceptions import HEMessageError

SEAL_MAGIC: Final = 0xA15E
_HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, version major, minor, compression, reserved, size
# SEAL's Ciphertext members: parms_id, is_ntt_form, size, N, coeff_modulus_size, scale, correction_factor.
_CIPHERTEXT = struct.Struct("<4QBQQQdQ")
_COMPRESSION_MODES: Final = frozenset({0, 1, 2})  # none, zlib, zstd
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
MAX_CHUNKS: Final = 64

Field = tuple[int, int, int | bytes]


@dataclass(frozen=True)
class VectorMessage:
    """A TenSEAL vector as sent: chunk sizes, one SEAL ciphertext per chunk, the CKKS scale."""

    sizes: tuple[int, ...]
    ciphertexts: tuple[bytes, ...]
    scale: float | None


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise HEMessageError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >> 64:
                raise HEMessageError("varint exceeds 64 bits")
            return value, pos
    raise HEMessageError("varint longer than 10 bytes")


def read_fields(data: bytes) -> list[Field]:
    """Top-level protobuf fields as (number, wire type, value); any malformation raises HEMessageError."""
    fields: list[Field] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise HEMessageError("protobuf field number 0")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type in (_FIXED64, _FIXED32):
            width = 8 if wire_type == _FIXED64 else 4
            if pos + width > len(data):
                raise HEMessageError("truncated fixed-width field")
            value, pos = data[pos : pos + width], pos + width
        elif wire_type == _LENGTH:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise HEMessageError("length-delimited field runs past the end")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise HEMessageError(f"unsupported protobuf wire type {wire_type}")
        fields.append((number, wire_type, value))
    return fields


def _packed_varints(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _read_varint(data, pos)
        values.append(value)
    return values


def parse_vector(data: bytes, *, with_scale: bool) -> VectorMessage:
    """Parse a serialised TenSEAL vector; refuse unknown fields, a repeated scale, a size/chunk mismatch."""
    sizes: list[int] = []
    ciphertexts: list[bytes] = []
    scale: float | None = None
    for number, wire_type, value in read_fields(data):
        if number == 1 and wire_type == _LENGTH and isinstance(value, bytes):
            sizes.extend(_packed_varints(value))
        elif number == 1 and wire_type == _VARINT and isinstance(value, int):
            sizes.append(value)
        elif number == 2 and wire_type == _LENGTH and isinstance(value, bytes):
            ciphertexts.append(value)
        elif (
            number == 3
            and with_scale
            and wire_type == _FIXED64
            and isinstance(value, bytes)
            and scale is None
        ):
            (scale,) = struct.unpack("<d", value)
        else:
            raise HEMessageError(f"unexpected field {number} (wire type {wire_type}) in an encrypted vector")
        if len(sizes) > MAX_CHUNKS or len(ciphertexts) > MAX_CHUNKS:
            raise HEMessageError(f"more than {MAX_CHUNKS} chunks in an encrypted vector")
    if not ciphertexts or len(sizes) != len(ciphertexts):
        raise HEMessageError(f"{len(sizes)} chunk sizes for {len(ciphertexts)} ciphertexts")
    if with_scale and scale is None:
        raise HEMessageError("a CKKS vector without its scale")
    for blob in ciphertexts:
        check_seal_object(blob)
    return VectorMessage(tuple(sizes), tuple(ciphertexts), scale)


def encode_vector(message: VectorMessage) -> bytes:
    """The inverse of parse_vector, in TenSEAL's field order."""
    packed = b"".join(_varint(size) for size in message.sizes)
    out = bytearray(b"\x0a" + _varint(len(packed)) + packed)
    for blob in message.ciphertexts:
        out += b"\x12" + _varint(len(blob)) + blob
    if message.scale is not None:
        out += b"\x19" + struct.pack("<d", message.scale)
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def check_seal_object(blob: bytes) -> None:
    """Refuse a SEAL object whose header is not ours: magic, version, compression mode, exact length."""
    if len(blob) < _HEADER.size:
        raise HEMessageError("SEAL object shorter than its header")
    magic, header_size, major, minor, compression, reserved, size = _HEADER.unpack_from(blob)
    if magic != SEAL_MAGIC or header_size != _HEADER.size or reserved != 0:
        raise HEMessageError("not a SEAL object header")
    if (major, minor) != seal_version():
        raise HEMessageError(f"SEAL format {major}.{minor}, expected {'.'.join(map(str, seal_version()))}")
    if compression not in _COMPRESSION_MODES:
        raise HEMessageError(f"unknown SEAL compression mode {compression}")
    if size != len(blob):
        raise HEMessageError(f"SEAL object claims {size} bytes but has {len(blob)}")


def context_fields(data: bytes) -> dict[int, int | bytes]:
    """The top-level fields of a serialised TenSEAL context, each at most once and of the expected type."""
    expected = {1: _LENGTH, 2: _LENGTH, 3: _LENGTH, 4: _VARINT}
    found: dict[int, int | bytes] = {}
    for number, wire_type, value in read_fields(data):
        if expected.get(number) != wire_type or number in found:
            raise HEMessageError(f"unexpected field {number} (wire type {wire_type}) in a context")
        found[number] = value
    return found


def _header(total: int) -> bytes:
    major, minor = seal_version()
    return _HEADER.pack(SEAL_MAGIC, _HEADER.size, major, minor, 0, 0, total)


def transparent_ciphertext(
    parms_id: tuple[int, ...], degree: int, scale: float, c0: npt.NDArray[np.uint64]
) -> bytes:
    """A SEAL ciphertext (c0, 0) in NTT form, uncompressed: it decrypts to c0 under any secret key.

    ``c0`` holds one row of ``degree`` residues per prime of the level ``parms_id`` names; SEAL's loader
    checks that every residue is below its prime and that the id belongs to the context.
    """
    primes, n = c0.shape
    if n != degree:
        raise ValueError(f"mask rows have {n} coefficients, the ring has {degree}")
    data = np.zeros((2, primes, degree), dtype="<u8")
    data[0] = c0
    body = struct.pack("<Q", data.size) + data.tobytes()
    dyn_array = _header(_HEADER.size + len(body)) + body
    members = _CIPHERTEXT.pack(*parms_id, 1, 2, degree, primes, scale, 1) + dyn_array
    return _header(_HEADER.size + len(members)) + members

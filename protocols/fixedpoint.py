"""Fixed-point encoding of float vectors into the rings Z_2^32 / Z_2^64, and their little-endian wire form.

Encodings are two's complement of round(v * 2^scale_bits); the overflow check leaves room for the sum of
``max_parties`` encodings, so an aggregate over that many parties never wraps around.
"""

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from protocols.exceptions import FixedPointOverflowError, InvalidMessageError

RingBits = Literal[32, 64]
RingArray = npt.NDArray[np.unsignedinteger[Any]]
FloatArray = npt.NDArray[np.float64]

_UNSIGNED: dict[int, type[np.unsignedinteger[Any]]] = {32: np.uint32, 64: np.uint64}
_SIGNED: dict[int, type[np.signedinteger[Any]]] = {32: np.int32, 64: np.int64}
_WIRE: dict[int, np.dtype[np.unsignedinteger[Any]]] = {32: np.dtype("<u4"), 64: np.dtype("<u8")}


def ring_dtype(ring_bits: int) -> np.dtype[np.unsignedinteger[Any]]:
    """Return the native unsigned dtype that holds elements of Z_2^ring_bits."""
    _check_ring(ring_bits)
    return np.dtype(_UNSIGNED[ring_bits])


def max_abs_encoded(ring_bits: int, max_parties: int) -> int:
    """Return the largest |round(v * 2^f)| for which a sum of ``max_parties`` encodings cannot wrap."""
    _check_ring(ring_bits)
    if max_parties < 1:
        raise ValueError("max_parties must be at least 1")
    return ((1 << (ring_bits - 1)) - 1) // max_parties


def encode(values: FloatArray, *, scale_bits: int, ring_bits: RingBits, max_parties: int) -> RingArray:
    """Encode floats as ring elements; raise FixedPointOverflowError naming the first bad index."""
    _check_scale(scale_bits, ring_bits)
    array = np.asarray(values, dtype=np.float64)
    _raise_at_first(~np.isfinite(array), array, "is not finite")
    with np.errstate(over="ignore"):  # an overflow to inf is reported by the bound check below
        scaled = np.rint(np.ldexp(array, scale_bits))
    limit = max_abs_encoded(ring_bits, max_parties)
    # Compare against the largest float <= limit: exact for the integer-valued `scaled`, even where the
    # limit itself (near 2^63) has no float64 representation.
    float_limit = float(limit)
    if int(float_limit) > limit:
        float_limit = float(np.nextafter(float_limit, 0.0))
    _raise_at_first(
        np.abs(scaled) > float_limit,
        array,
        f"exceeds the bound {limit} * 2^-{scale_bits} for {max_parties} parties",
    )
    return scaled.astype(_SIGNED[ring_bits]).view(_UNSIGNED[ring_bits])


def decode(ring_values: RingArray, *, scale_bits: int, ring_bits: RingBits) -> FloatArray:
    """Interpret ring elements as signed two's complement and divide by 2^scale_bits (exact below 2^53)."""
    _check_scale(scale_bits, ring_bits)
    array = np.asarray(ring_values)
    if array.dtype != ring_dtype(ring_bits):
        raise ValueError(f"expected dtype {ring_dtype(ring_bits)}, got {array.dtype}")
    signed = array.view(_SIGNED[ring_bits]).astype(np.float64)
    return np.ldexp(signed, -scale_bits)


def max_abs_error(n_parties: int, scale_bits: int) -> float:
    """Bound on |decoded sum - exact sum| from rounding: each of n encodings is off by <= 2^-(f+1)."""
    if n_parties < 0:
        raise ValueError("n_parties must not be negative")
    return float(n_parties * 2.0 ** -(scale_bits + 1))


def pack(vec: RingArray, ring_bits: RingBits) -> bytes:
    """Serialise a ring vector as little-endian '<u4' or '<u8' bytes."""
    array = np.asarray(vec)
    if array.dtype != ring_dtype(ring_bits) or array.ndim != 1:
        raise ValueError(f"expected a 1-D array of {ring_dtype(ring_bits)}, got {array.ndim}-D {array.dtype}")
    return array.astype(_WIRE[ring_bits], copy=False).tobytes()


def unpack(data: bytes, ring_bits: RingBits, length: int) -> RingArray:
    """Parse packed bytes into a read-only ring vector of exactly ``length`` elements."""
    _check_ring(ring_bits)
    expected = length * _WIRE[ring_bits].itemsize
    if length < 0 or len(data) != expected:
        raise InvalidMessageError(f"packed vector has {len(data)} bytes, expected {expected}")
    wire = np.frombuffer(data, dtype=_WIRE[ring_bits], count=length)
    return wire.astype(_UNSIGNED[ring_bits], copy=False)


def _raise_at_first(bad: npt.NDArray[np.bool_], values: FloatArray, reason: str) -> None:
    if not bad.any():
        return
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
    raise FixedPointOverflowError(f"value {float(values[index])!r} at index {index} {reason}", index)


def _check_ring(ring_bits: int) -> None:
    if ring_bits not in _UNSIGNED:
        raise ValueError(f"ring_bits must be 32 or 64, got {ring_bits}")


def _check_scale(scale_bits: int, ring_bits: int) -> None:
    _check_ring(ring_bits)
    if not 0 <= scale_bits < ring_bits - 1:
        raise ValueError(f"scale_bits must be in [0, {ring_bits - 2}], got {scale_bits}")

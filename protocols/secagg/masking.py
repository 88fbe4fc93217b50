"""Mask expansion: the AES-256-CTR keystream of a 32-byte seed, read as ring elements and added in place."""

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocols.fixedpoint import RingArray, RingBits, ring_dtype

SEED_BYTES = 32
Sign = Literal[1, -1]

# Every seed keys exactly one stream, so one fixed initial counter block is safe.
_COUNTER_BLOCK = bytes(16)
_CHUNK = 1 << 16
_ZEROS = memoryview(bytes(_CHUNK))
# Some backends want room for one block less a byte beyond the input of update_into.
_SLACK = 15


def prg(seed: bytes, length: int, ring_bits: RingBits) -> RingArray:
    """Expand ``seed`` into ``length`` ring elements (a new writable array)."""
    out = np.zeros(length, dtype=ring_dtype(ring_bits))
    add_masks(out, [(seed, 1)])
    return out


def add_masks(acc: RingArray, masks: Iterable[tuple[bytes, Sign]]) -> None:
    """Set acc += sign * PRG(seed) mod 2^k for each (seed, sign), in place, reusing one keystream buffer."""
    if acc.ndim != 1 or acc.dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
        raise ValueError(f"expected a 1-D uint32 or uint64 array, got {acc.ndim}-D {acc.dtype}")
    nbytes = acc.nbytes
    buffer = np.empty(nbytes + _SLACK, dtype=np.uint8)
    stream = buffer[:nbytes].view(acc.dtype.newbyteorder("<"))
    for seed, sign in masks:
        _fill_keystream(seed, buffer, nbytes)
        if sign == 1:
            np.add(acc, stream, out=acc)
        elif sign == -1:
            np.subtract(acc, stream, out=acc)
        else:
            raise ValueError(f"mask sign must be 1 or -1, got {sign}")


def _fill_keystream(seed: bytes, buffer: npt.NDArray[np.uint8], nbytes: int) -> None:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"mask seeds are {SEED_BYTES} bytes, got {len(seed)}")
    encryptor = Cipher(algorithms.AES256(seed), modes.CTR(_COUNTER_BLOCK)).encryptor()
    # Encrypting zeros in fixed-size chunks straight into the buffer avoids allocating a zero input and a
    # keystream copy as large as the vector.
    out = buffer.data
    for start in range(0, nbytes, _CHUNK):
        size = min(_CHUNK, nbytes - start)
        encryptor.update_into(_ZEROS[:size], out[start : start + size + _SLACK])

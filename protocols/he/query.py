"""The buyer's encrypted query: its public context and one encrypted coefficient vector per output.

One byte string, so that one SHA-256 names it in the job spec and every party checks the same bytes:

    b"DSHEQ1" ‖ u16 len ‖ parameter-set name ‖ u64 len ‖ public context ‖ u16 count ‖ (u32 len ‖ ciphertext)*

all integers little-endian. ``decode`` bounds every length before reading it and refuses trailing bytes;
``open_query`` then loads the context through ``context.load_public_context`` (no secret key, the named set,
Galois keys present) and checks every ciphertext against the query's shape.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from protocols.he import ciphertexts, scoring
from protocols.he.context import PublicContext, load_public_context
from protocols.he.exceptions import HEMessageError
from protocols.he.params import by_name

MAGIC: Final = b"DSHEQ1"
MAX_OUTPUTS: Final = 64


@dataclass(frozen=True)
class EncryptedQuery:
    params: str
    context: bytes
    queries: tuple[bytes, ...]


def encode(query: EncryptedQuery) -> bytes:
    name = query.params.encode()
    parts = [MAGIC, struct.pack("<H", len(name)), name, struct.pack("<Q", len(query.context)), query.context]
    parts.append(struct.pack("<H", len(query.queries)))
    for blob in query.queries:
        parts += [struct.pack("<I", len(blob)), blob]
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int, what: str) -> bytes:
        if count > len(self.data) - self.at:
            raise HEMessageError(f"the query is truncated in its {what}")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def number(self, fmt: str, what: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))
        return int(value)


def decode(data: bytes) -> EncryptedQuery:
    """The parts of an encoded query; HEMessageError for anything malformed or over its set's limits."""
    reader = _Reader(data)
    if reader.take(len(MAGIC), "header") != MAGIC:
        raise HEMessageError("not an encrypted query (bad header)")
    name = reader.take(reader.number("<H", "parameter set"), "parameter set").decode("ascii", "replace")
    try:
        params = by_name(name)
    except ValueError as exc:
        raise HEMessageError(str(exc)) from None
    size = reader.number("<Q", "context length")
    if size > params.max_public_context_bytes:
        raise HEMessageError(f"context of {size} bytes exceeds {params.max_public_context_bytes}")
    context = reader.take(size, "context")
    count = reader.number("<H", "output count")
    if not 1 <= count <= MAX_OUTPUTS:
        raise HEMessageError(f"a query holds 1 to {MAX_OUTPUTS} encrypted outputs, not {count}")
    queries = []
    for index in range(count):
        length = reader.number("<I", f"output {index} length")
        if length > params.max_ciphertext_bytes:
            raise HEMessageError(f"output {index}: {length} bytes exceed {params.max_ciphertext_bytes}")
        queries.append(reader.take(length, f"output {index}"))
    if reader.at != len(data):
        raise HEMessageError(f"{len(data) - reader.at} bytes follow the query")
    return EncryptedQuery(name, context, tuple(queries))


def open_query(
    data: bytes, *, params: str, outputs: int, n_threads: int | None = None
) -> tuple[PublicContext, tuple[bytes, ...]]:
    """The checked public context and query ciphertexts of ``data`` for a job naming ``params``."""
    query = decode(data)
    if query.params != params:
        raise HEMessageError(f"the query is for {query.params}, the job names {params}")
    if len(query.queries) != outputs:
        raise HEMessageError(f"the query holds {len(query.queries)} outputs, the job names {outputs}")
    public = load_public_context(query.context, by_name(params), galois_keys=True, n_threads=n_threads)
    spec = scoring.query_spec(public.params)
    for blob in query.queries:
        ciphertexts.load(public, blob, spec)
    return public, query.queries


def build(context: bytes, params: str, coefficient_vectors: Sequence[bytes]) -> bytes:
    """The buyer's side: an encoded query from its public context and its encrypted coefficient vectors."""
    return encode(EncryptedQuery(params, context, tuple(coefficient_vectors)))

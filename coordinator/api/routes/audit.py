"""The audit log over HTTP: entries, signed checkpoints and Merkle proofs.

Operators read everything; any other participant reads the entries that name it (subject
``participant``) and the checkpoints, so it can check its own history against the signed log.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from contracts.identity import Role
from coordinator.api.deps import ContextDep, OperatorDep, PrincipalDep
from coordinator.audit.entries import MAX_KIND, MAX_LABEL
from coordinator.audit.store import MAX_INDEX, StoredEntry
from coordinator.exceptions import InvalidRequestError
from protocols.tlog import merkle
from protocols.tlog.exceptions import TamperError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
MAX_PAGE = 1000  # entries or checkpoints per response


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/entries", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def entries(
    context: ContextDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INDEX, description="matches to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    start: Annotated[
        int, Query(ge=0, le=MAX_INDEX, description="first index to consider: the last index seen + 1")
    ] = 0,
    kind: Annotated[str | None, Query(min_length=1, max_length=MAX_KIND)] = None,
    subject: Annotated[
        str | None, Query(max_length=MAX_KIND + 1 + MAX_LABEL, description="TYPE:ID, e.g. job:job_123")
    ] = None,
) -> Response:
    """One page of entries in index order, each with its leaf hash; paging by ``start`` stays cheap."""
    wanted = _subject(subject)
    if principal.role is not Role.OPERATOR:
        if wanted is not None and wanted != ("participant", principal.participant_id):
            raise InvalidRequestError(
                "participants may filter only by their own id", code="subject_not_allowed"
            )
        wanted = ("participant", principal.participant_id)
    log = context.audit.log
    page = log.stored_entries(limit, start=start, offset=offset, kind=kind, subject=wanted)
    items = b",".join(_with_leaf_hash(row) for row in page)
    head = f'{{"size":{log.size()},"offset":{offset},"start":{start},"entries":['.encode()
    return Response(head + items + b"]}", media_type="application/json")


def _with_leaf_hash(row: StoredEntry) -> bytes:
    """The stored entry JSON with its leaf hash added, spliced in: no decoding and re-encoding of a page."""
    data = row.canonical
    if not (data.startswith(b"{") and data.endswith(b"}") and len(data) > 2):
        raise TamperError("a stored entry is not a JSON object", index=row.idx)
    return b'%s,"leaf_hash":"%s"}' % (data[:-1], base64.b64encode(row.leaf_hash))


@router.get("/checkpoint")
def checkpoint(context: ContextDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The newest signed checkpoint, with the cosignatures of the nodes that witnessed it."""
    note = context.audit.log.latest_checkpoint() or context.audit.log.checkpoint(context.clock())
    return {"note": note, "log_key": context.keys.log_signer.verifier().key_string()}


@router.get("/checkpoints")
def checkpoints(
    context: ContextDep,
    _operator: OperatorDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="smallest tree size to list")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> dict[str, Any]:
    """Signed checkpoints in size order, a page at a time (for a full remote verification)."""
    return {"notes": context.audit.log.checkpoints(start, limit)}


@router.get("/proof/inclusion")
def inclusion(
    context: ContextDep,
    _operator: OperatorDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> dict[str, Any]:
    log = context.audit.log
    proof = log.inclusion_proof(index, size)
    return {
        "index": index,
        "size": size,
        "leaf_hash": _b64(merkle.leaf_hash(log.stored_entry(index).canonical)),
        "root": _b64(log.root(size)),
        "proof": [_b64(p) for p in proof],
    }


@router.get("/proof/consistency")
def consistency(
    context: ContextDep,
    _operator: OperatorDep,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    second: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> dict[str, Any]:
    log = context.audit.log
    proof = log.consistency_proof(first, second)
    return {
        "first": first,
        "second": second,
        "first_root": _b64(log.root(first)),
        "second_root": _b64(log.root(second)),
        "proof": [_b64(p) for p in proof],
    }


def _subject(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    kind, sep, value = text.partition(":")
    if not sep or not kind or not value:
        raise InvalidRequestError("subject must look like TYPE:ID", code="bad_subject")
    return kind, value

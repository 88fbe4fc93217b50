"""The audit log over HTTP: entries, signed checkpoints and Merkle proofs.

Operators read everything; any other participant reads the entries that name it (subject
``participant``) and the checkpoints, so it can check its own history against the signed log.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query

from contracts.identity import Role
from coordinator.api.deps import ContextDep, OperatorDep, PrincipalDep
from coordinator.exceptions import InvalidRequestError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/entries")
def entries(
    context: ContextDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: str | None = None,
    subject: Annotated[str | None, Query(description="TYPE:ID, e.g. job:job_123")] = None,
) -> dict[str, Any]:
    wanted = _subject(subject)
    if principal.role is not Role.OPERATOR:
        if wanted is not None and wanted != ("participant", principal.participant_id):
            raise InvalidRequestError(
                "participants may filter only by their own id", code="subject_not_allowed"
            )
        wanted = ("participant", principal.participant_id)
    log = context.audit.log
    page = log.entries(offset, limit, kind=kind, subject=wanted)
    items = [{**e.to_json(), "leaf_hash": _b64(e.leaf_hash())} for e in page]
    return {"size": log.size(), "offset": offset, "entries": items}


@router.get("/checkpoint")
def checkpoint(context: ContextDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The newest signed checkpoint, with the cosignatures of the nodes that witnessed it."""
    note = context.audit.log.latest_checkpoint() or context.audit.log.checkpoint(context.clock())
    return {"note": note, "log_key": context.keys.log_signer.verifier().key_string()}


@router.get("/checkpoints")
def checkpoints(context: ContextDep, _operator: OperatorDep) -> dict[str, Any]:
    """Every signed checkpoint (for a full remote verification)."""
    return {"notes": context.audit.log.all_checkpoints()}


@router.get("/proof/inclusion")
def inclusion(
    context: ContextDep,
    _operator: OperatorDep,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    log = context.audit.log
    proof = log.inclusion_proof(index, size)
    return {
        "index": index,
        "size": size,
        "leaf_hash": _b64(log.entry(index).leaf_hash()),
        "root": _b64(log.root(size)),
        "proof": [_b64(p) for p in proof],
    }


@router.get("/proof/consistency")
def consistency(
    context: ContextDep,
    _operator: OperatorDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
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

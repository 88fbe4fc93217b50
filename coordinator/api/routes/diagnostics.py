"""Operator diagnostics of the space: secure versus plaintext sums of synthetic vectors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from contracts.canonical import MAX_SAFE_INTEGER
from contracts.diagnostics import DiagnosticSpec
from coordinator.api.deps import ContextDep, OperatorDep
from coordinator.exceptions import ConflictError

router = APIRouter(prefix="/api/v1/diagnostics", tags=["diagnostics"])


class DiagnosticRequest(DiagnosticSpec):
    """A diagnostic spec whose seed fits the signed tickets it travels in (canonical JSON)."""

    seed: int = Field(default=0, ge=0, le=MAX_SAFE_INTEGER)
    participants: int | None = Field(
        default=None, ge=2, le=10_000, description="How many connected nodes; all if unset."
    )


@router.post("/secure-sum")
async def secure_sum(body: DiagnosticRequest, context: ContextDep, _operator: OperatorDep) -> dict[str, Any]:
    if context.run_diagnostic is None:
        raise ConflictError("this coordinator runs no protocol server", code="no_server")
    return await context.run_diagnostic(DiagnosticSpec.model_validate(body.model_dump()))

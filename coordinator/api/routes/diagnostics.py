"""Operator diagnostics of the space: secure versus plaintext sums of synthetic vectors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from contracts.diagnostics import DiagnosticSpec
from coordinator.api.deps import ContextDep, OperatorDep
from coordinator.exceptions import ConflictError

router = APIRouter(prefix="/api/v1/diagnostics", tags=["diagnostics"])


@router.post("/secure-sum")
async def secure_sum(spec: DiagnosticSpec, context: ContextDep, _operator: OperatorDep) -> dict[str, Any]:
    if context.run_diagnostic is None:
        raise ConflictError("this coordinator runs no protocol server", code="no_server")
    return await context.run_diagnostic(spec)

"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from coordinator.api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(context: ContextDep) -> dict[str, Any]:
    return {"status": "ok", "connected_nodes": len(context.sessions.connected())}

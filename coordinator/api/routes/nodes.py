"""Connected nodes (operator) and the datasets they declare (any participant)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from coordinator.api.deps import ContextDep, OperatorDep, PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["nodes"])


class NodePublic(BaseModel):
    participant_id: str
    datasets: list[str]
    connected_at: datetime
    last_seen: datetime


@router.get("/nodes")
def list_nodes(context: ContextDep, _operator: OperatorDep) -> list[NodePublic]:
    return [
        NodePublic(
            participant_id=s.participant_id,
            datasets=sorted(s.datasets),
            connected_at=s.connected_at,
            last_seen=s.last_seen,
        )
        for s in context.sessions.connected()
    ]


@router.get("/datasets")
def list_datasets(context: ContextDep, _principal: PrincipalDep) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for row in context.store.node_datasets():
        entry = by_name.setdefault(row.dataset, {"name": row.dataset, "holders": [], "schema": None})
        entry["holders"].append(row.participant_id)
        entry["schema"] = entry["schema"] or json.loads(row.schema_text)
    return sorted(by_name.values(), key=lambda d: str(d["name"]))

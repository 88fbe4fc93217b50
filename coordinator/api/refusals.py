"""Refused actions in the audit log, written at the edge before the response is sent.

An action (any method but GET and HEAD) that the gateway refuses leaves one entry: who, which route, the
status and code, and the request's SHA-256 digest and size — never the request itself. Reads are not
logged (polling must not grow the log), nor are requests nobody can be named for, except enrollment,
which is anonymous by nature. A refusal its domain service already logged is marked and skipped here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request

from contracts.enrollment import hash_secret
from contracts.identity import Role
from coordinator.api.deps import Principal
from coordinator.api.middleware import request_digest
from coordinator.audit.refusals import refusal_payload, safe_subjects
from coordinator.audit.trail import Event
from coordinator.context import CoordinatorContext

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_EVENTS = {"/api/v1/jobs": Event.JOB_REFUSED, "/api/v1/enroll": Event.ENROLLMENT_REFUSED}
_ANONYMOUS_ROUTES = frozenset({"/api/v1/enroll"})
# Path parameters that name something an audit subject can point at.
_SUBJECT_OF_PARAMETER = {"contract_id": "contract", "job_id": "job"}
_MAX_TOKEN = 256


def audit_refusal(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    errors: Sequence[Mapping[str, Any]] = (),
    body: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Log a refused action (a no-op for reads and for unnamed callers outside enrollment)."""
    if request.method in _READS:
        return
    context: CoordinatorContext = request.app.state.context
    route = route_of(request)
    principal = principal_of(request, context)
    if principal is None and route not in _ANONYMOUS_ROUTES:
        log.info("refused %s %s (%d %s) from an unauthenticated client", request.method, route, status, code)
        return
    actor = principal.participant_id if principal is not None else "anonymous"
    ids = {_SUBJECT_OF_PARAMETER[k]: v for k, v in request.path_params.items() if k in _SUBJECT_OF_PARAMETER}
    if isinstance(body, Mapping) and isinstance(body.get("contract_id"), str):
        ids.setdefault("contract", body["contract_id"])
    subjects = safe_subjects(participant=actor if principal is not None else None, **ids)
    located = [{"loc": e.get("loc", ()), "type": e.get("type")} for e in errors[:10]]
    payload = refusal_payload(
        code,
        message,
        request_digest(request.scope),
        status=status,
        route=route,
        **({"errors": located} if located else {}),
        **(extra or {}),
    )
    context.audit.record(actor, _EVENTS.get(route, Event.REQUEST_REFUSED), subjects, payload)


def route_of(request: Request) -> str:
    """The route's template (``/api/v1/contracts/{contract_id}/agree``), else the path as asked."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else request.url.path


def principal_of(request: Request, context: CoordinatorContext) -> Principal | None:
    """Who made the request: set by ``deps.get_principal`` when it ran, else looked up from the token."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN:
        return None
    row = context.store.api_token(hash_secret(token.strip()))
    return None if row is None else Principal(row.participant_id, Role(row.role))

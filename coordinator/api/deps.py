"""Typed dependencies of the gateway: the coordinator context and the authenticated principal."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.canonical import ID_PATTERN, MAX_SAFE_INTEGER
from contracts.enrollment import hash_secret
from contracts.identity import Role
from coordinator.context import CoordinatorContext
from coordinator.exceptions import AuthenticationError, InvalidRequestError, PermissionDeniedError

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    participant_id: str
    role: Role


def get_context(request: Request) -> CoordinatorContext:
    context: CoordinatorContext = request.app.state.context
    return context


ContextDep = Annotated[CoordinatorContext, Depends(get_context)]


def get_principal(
    request: Request,
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthenticationError("missing bearer token", code="missing_token")
    token = context.store.api_token(hash_secret(credentials.credentials))
    if token is None:
        raise AuthenticationError("unknown or revoked bearer token", code="invalid_token")
    principal = Principal(token.participant_id, Role(token.role))
    request.state.principal = principal  # so a refusal later in this request is audited under its name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only the given roles."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise PermissionDeniedError(
                f"this action needs the role {' or '.join(roles)}",
                code="wrong_role",
                details={"role": principal.role, "allowed": list(roles)},
            )
        return principal

    return check


OperatorDep = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
BuyerDep = Annotated[Principal, Depends(require_role(Role.BUYER))]
BuyerOrOperatorDep = Annotated[Principal, Depends(require_role(Role.BUYER, Role.OPERATOR))]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER = re.compile(r"[+-]?\d+")


def check_query(request: Request) -> None:
    """Every route's guard: no control character and no integer beyond ±(2^53 - 1) in the query string.

    Query values reach databases as they are: a NUL is an error on PostgreSQL and an integer past 2^63 one
    on SQLite, so both are refused here, for every route at once, as the JSON bodies are.
    """
    for name, value in request.query_params.multi_items():
        problem = None
        if _CONTROL.search(name) or _CONTROL.search(value):
            problem = "control characters are not allowed"
        elif _INTEGER.fullmatch(value.strip()) and not _safe_integer(value.strip()):
            problem = "integers must lie within ±(2^53 - 1)"
        if problem is not None:
            error = {"loc": ["query", name], "msg": problem, "type": "value_error"}
            raise InvalidRequestError(f"query parameter {name!r}: {problem}", details={"errors": [error]})


def _safe_integer(text: str) -> bool:
    digits = text.lstrip("+-")
    return len(digits) <= 16 and abs(int(text)) <= MAX_SAFE_INTEGER  # 17+ digits: past 2^53, and no int()


# Ids in paths are checked before any look-up: a NUL or a lone surrogate reaches no database.
IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="An id: [A-Za-z0-9._:-], 1-128")]

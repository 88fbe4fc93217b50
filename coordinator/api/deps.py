"""Typed dependencies of the gateway: the coordinator context and the authenticated principal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.enrollment import hash_secret
from contracts.identity import Role
from coordinator.context import CoordinatorContext
from coordinator.exceptions import AuthenticationError, PermissionDeniedError

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
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthenticationError("missing bearer token", code="missing_token")
    token = context.store.api_token(hash_secret(credentials.credentials))
    if token is None:
        raise AuthenticationError("unknown or revoked bearer token", code="invalid_token")
    return Principal(token.participant_id, Role(token.role))


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

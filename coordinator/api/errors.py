"""One table from domain errors to HTTP statuses; every error body is {"error": {code, message, details}}.

Every refusal of an action is audited here before its response is sent (``refusals.audit_refusal``), and
every error body is bounded and inside canonical JSON whatever the request held: a NaN, a lone surrogate
or a megabyte of input in an error's details can no longer turn a 4xx into a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.canonical import bounded, bounded_text
from contracts.exceptions import ContractsError, IllegalTransitionError, SignatureError
from coordinator import exceptions as exc
from coordinator.api.refusals import audit_refusal
from protocols.tlog.exceptions import LogRangeError

STATUS_OF: dict[type[exc.CoordinatorError], int] = {
    exc.AuthenticationError: 401,
    exc.PermissionDeniedError: 403,
    exc.NotFoundError: 404,
    exc.ConflictError: 409,
    exc.GoneError: 410,
    exc.RequestTooLargeError: 413,
    exc.InvalidRequestError: 422,
}
_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
}
_MAX_MESSAGE = 500
_MAX_ERRORS = 20


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "The body could not be read",
        401: "Missing or unknown bearer token",
        403: "Not allowed for this role, or by the contract",
        404: "No such resource, or not one this participant may see",
        408: "The request body did not arrive in time",
        409: "Not possible in the current state",
        410: "Expired",
        413: "The request body is too large",
        422: "The request does not match the schema or the domain rules; details name the field",
        500: "The coordinator failed; nothing was changed by this request",
    }.items()
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    safe_details = bounded(details or {}, text=300, items=50, depth=6)
    return {
        "error": {
            "code": bounded_text(code, 64),
            "message": bounded_text(message, _MAX_MESSAGE),
            "details": safe_details if isinstance(safe_details, dict) else {"value": safe_details},
        }
    }


async def refuse(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    *,
    audited: bool = False,
    errors: Sequence[Mapping[str, Any]] = (),
    body: Any = None,
) -> JSONResponse:
    """Audit the refusal (unless its raiser did), then answer it."""
    if not audited:
        await run_in_threadpool(audit_refusal, request, status, code, message, errors=errors, body=body)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, details), status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(exc.CoordinatorError)
    async def _domain(request: Request, error: exc.CoordinatorError) -> JSONResponse:
        status = next((s for cls, s in STATUS_OF.items() if isinstance(error, cls)), 500)
        return await refuse(request, status, error.code, error.message, error.details,
                            audited=exc.was_audited(error))  # fmt: skip

    @app.exception_handler(ContractsError)
    async def _domain_rule(request: Request, error: ContractsError) -> JSONResponse:
        status = (
            409
            if isinstance(error, IllegalTransitionError)
            else 403
            if isinstance(error, SignatureError)
            else 422
        )
        return await refuse(request, status, error.code, str(error), error.details,
                            audited=exc.was_audited(error))  # fmt: skip

    @app.exception_handler(LogRangeError)
    async def _log_range(request: Request, error: LogRangeError) -> JSONResponse:
        return await refuse(request, 422, "log_range", str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_plain(e) for e in error.errors()[:_MAX_ERRORS]]
        message = "request does not match the schema"
        return await refuse(request, 422, "invalid_request", message, {"errors": errors}, errors=errors,
                            body=error.body)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(error.status_code, "http_error")
        return await refuse(request, error.status_code, code, str(error.detail))


def _plain(error: Mapping[str, Any]) -> dict[str, Any]:
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type")}

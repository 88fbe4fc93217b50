"""One table from domain errors to HTTP statuses; every error body is {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.exceptions import ContractsError, IllegalTransitionError, SignatureError
from coordinator import exceptions as exc
from protocols.tlog.exceptions import LogRangeError

STATUS_OF: dict[type[exc.CoordinatorError], int] = {
    exc.AuthenticationError: 401,
    exc.PermissionDeniedError: 403,
    exc.NotFoundError: 404,
    exc.ConflictError: 409,
    exc.GoneError: 410,
    exc.InvalidRequestError: 422,
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(exc.CoordinatorError)
    async def _domain(_request: Request, error: exc.CoordinatorError) -> JSONResponse:
        status = next((s for cls, s in STATUS_OF.items() if isinstance(error, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(error.code, error.message, error.details), status, headers=headers)

    @app.exception_handler(ContractsError)
    async def _domain_rule(_request: Request, error: ContractsError) -> JSONResponse:
        status = (
            409
            if isinstance(error, IllegalTransitionError)
            else 403
            if isinstance(error, SignatureError)
            else 422
        )
        return JSONResponse(error_body(error.code, str(error), error.details), status)

    @app.exception_handler(LogRangeError)
    async def _log_range(_request: Request, error: LogRangeError) -> JSONResponse:
        return JSONResponse(error_body("log_range", str(error)), 422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = {"errors": [_plain(e) for e in error.errors()]}
        return JSONResponse(
            error_body("invalid_request", "request body does not match the schema", details), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(_code_of(error.status_code), str(error.detail)), error.status_code)


def _plain(error: Any) -> dict[str, Any]:
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type")}


def _code_of(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(status, "http_error")

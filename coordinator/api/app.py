"""Assemble the FastAPI gateway around a coordinator context."""

from __future__ import annotations

import re

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi_offline import FastAPIOffline
from starlette.requests import Request
from starlette.types import Scope

from coordinator.api.deps import check_query
from coordinator.api.errors import ERROR_RESPONSES, install_error_handlers
from coordinator.api.middleware import (
    BodyLimitMiddleware,
    ErrorBoundaryMiddleware,
    LocalAssetsPolicyMiddleware,
)
from coordinator.api.refusals import audit_refusal
from coordinator.api.routes import (
    audit,
    catalog,
    contracts,
    demands,
    diagnostics,
    enrollment,
    health,
    jobs,
    nodes,
)
from coordinator.api.routes.jobs import EXCHANGE_PATH, INPUTS_PATH
from coordinator.context import CoordinatorContext


def create_app(context: CoordinatorContext) -> FastAPI:
    # Swagger UI and ReDoc from the assets packaged with fastapi-offline, not a CDN: /docs must work in a
    # plant without internet access.
    app = FastAPIOffline(
        title="industrial-dataspace gateway",
        version="1",
        description="Enrollment, datasets and joint-analysis jobs of the trusted industrial data space.",
        dependencies=[Depends(check_query)],
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (health, enrollment, nodes, catalog, demands, contracts, jobs, diagnostics, audit):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    # Added innermost first: the error boundary wraps the docs policy and the body limit, then the routes.
    settings = context.settings
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_request_bytes,
        read_timeout_s=settings.request_read_timeout_s,
        on_declared_too_large=_audit_too_large,
        larger={re.escape(INPUTS_PATH): settings.max_input_bytes, EXCHANGE_PATH: settings.max_input_bytes},
    )
    app.add_middleware(LocalAssetsPolicyMiddleware, paths=frozenset({"/docs", "/redoc"}))
    app.add_middleware(ErrorBoundaryMiddleware)
    return app


async def _audit_too_large(scope: Scope, declared: int | None, limit: int) -> None:
    message = f"the request body exceeds {limit} bytes"
    extra = {"content_length": declared, "limit": limit}
    await run_in_threadpool(audit_refusal, Request(scope), 413, "request_too_large", message, extra=extra)

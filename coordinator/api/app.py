"""Assemble the FastAPI gateway around a coordinator context."""

from __future__ import annotations

from fastapi import FastAPI

from coordinator.api.errors import install_error_handlers
from coordinator.api.routes import audit, contracts, diagnostics, enrollment, health, jobs, nodes
from coordinator.context import CoordinatorContext


def create_app(context: CoordinatorContext) -> FastAPI:
    app = FastAPI(
        title="industrial-dataspace gateway",
        version="1",
        description="Enrollment, datasets and joint-analysis jobs of the trusted industrial data space.",
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (health, enrollment, nodes, contracts, jobs, diagnostics, audit):
        app.include_router(module.router)
    return app

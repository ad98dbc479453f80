"""The REST API under /api, mounted into the Reflex app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mass_mailer.api import auth, health, jobs, metrics, senders, users
from mass_mailer.errors import DomainError, RateLimited

log = logging.getLogger(__name__)


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def create_app() -> FastAPI:
    """A fresh FastAPI app with every router (one per Reflex app instance)."""
    app = FastAPI(title="mass_mailer", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(senders.router)
    app.include_router(users.router)
    app.include_router(jobs.router)
    app.include_router(metrics.router)
    app.middleware("http")(metrics.record_latency)
    return app

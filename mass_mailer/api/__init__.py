"""The REST API under /api, mounted into the Reflex app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline

from mass_mailer.api import auth, errors, fallback, health, jobs, metrics, senders, suppressions, unsubscribe, users
from mass_mailer.api.guards import SecurityGuard
from mass_mailer.api.upload_guard import UploadGuard
from mass_mailer.errors import DomainError
from mass_mailer.logging_config import configure_child_process


def create_app() -> FastAPI:
    """A fresh FastAPI app with every router (one per Reflex app instance)."""
    configure_child_process()  # in the server processes `web` starts: LOG_FORMAT, secrets redacted
    # Swagger UI's script and styles are served by the app itself: the docs work offline (no CDN).
    app = FastAPIOffline(title="mass_mailer", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
                         static_url="/api/docs/static", swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect")
    app.add_exception_handler(DomainError, errors.domain_error)
    app.add_exception_handler(RequestValidationError, errors.request_validation_error)
    app.add_exception_handler(Exception, errors.unexpected_error)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(senders.router)
    app.include_router(users.router)
    app.include_router(jobs.router)
    app.include_router(suppressions.router)
    app.include_router(unsubscribe.router)
    app.include_router(metrics.router)
    fallback.add_fallback(app)  # last: only what no route above matched
    app.middleware("http")(metrics.record_latency)
    app.add_middleware(UploadGuard)  # Reflex's /_upload is mounted inside this app: checked before it reads a byte
    # Added last, so it runs first: Reflex mounts its websocket, uploads and frontend files inside this app.
    app.add_middleware(SecurityGuard)
    return app

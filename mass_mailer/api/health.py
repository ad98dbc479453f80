"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mass_mailer.api.deps import AdminUser
from mass_mailer.db import database_ok
from mass_mailer.redis_client import redis_ok
from mass_mailer.services.coordination import Liveness
from mass_mailer.services.system import SystemStatus, system_status

router = APIRouter(prefix="/api", tags=["operations"])


@router.get("/health")
def health() -> dict:
    """200 while the process serves."""
    return {"status": "ok"}


@router.get("/ready")
async def ready() -> JSONResponse:
    """200 when PostgreSQL and Redis answer, else 503; with the worker processes and schedulers alive (from their
    heartbeats in Redis; null while Redis does not answer)."""
    db, rd = await run_in_threadpool(database_ok), await run_in_threadpool(redis_ok)
    alive = await run_in_threadpool(_liveness) if rd else None
    body = {"status": "ok" if db and rd else "unavailable",
            "database": "ok" if db else "unavailable", "redis": "ok" if rd else "unavailable",
            "workers": None if alive is None else len(alive.workers),
            "scheduler": None if alive is None else bool(alive.schedulers)}
    return JSONResponse(body, status_code=200 if db and rd else 503)


def _liveness() -> Liveness | None:
    try:
        return Liveness.read()
    except Exception:  # noqa: BLE001 - Redis went away between the two calls
        return None


@router.get("/system")
async def system(admin: AdminUser) -> SystemStatus:  # noqa: ARG001 - admins only
    """Admins: worker processes and schedulers alive, queue depth, sends, errors and retries of the last hour."""
    return await run_in_threadpool(system_status)

"""GET /metrics in Prometheus text format, and the HTTP latency histogram behind it."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

from mass_mailer.services.metrics import SendingCollector

router = APIRouter(tags=["operations"])

REGISTRY = CollectorRegistry()
REGISTRY.register(SendingCollector())
HTTP_LATENCY = Histogram("mass_mailer_http_request_duration_seconds", "HTTP request latency",
                         ["method", "route", "status"], registry=REGISTRY)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Every metric, in Prometheus text format."""
    return Response(await run_in_threadpool(generate_latest, REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def record_latency(request: Request, call_next):
    """HTTP middleware: time each request, labelled by its route template (not the raw path)."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    HTTP_LATENCY.labels(request.method, getattr(route, "path", "unmatched"), str(response.status_code)).observe(
        time.perf_counter() - started)
    return response

"""Every error answer is `{"detail": "<one readable sentence>"}` with the status the contract names."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mass_mailer.errors import DomainError, RateLimited

log = logging.getLogger(__name__)


def validation_message(errors: Sequence[Any]) -> str:
    """The first validation problem as one line, e.g. "Invalid request: query.limit: Input should be ..."."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return "Invalid request: the body is not valid JSON"
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return f"Invalid request: {where + ': ' if where else ''}{first.get('msg', 'invalid input')}"


async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


async def request_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with a readable `detail` string; `errors` lists every problem (without echoing the input)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": validation_message(exc.errors()), "errors": errors}, status_code=422)


OUTAGE_RETRY_SECONDS = 5


def is_outage(exc: BaseException) -> bool:
    """PostgreSQL or Redis did not answer (down, restarting, a dropped connection): the request can be repeated."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OperationalError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if is_outage(exc):
        log.warning("%s %s: the database or Redis did not answer (%s)", request.method, request.url.path,
                    type(exc).__name__)
        return JSONResponse({"detail": "The service is briefly unavailable (its database or Redis did not answer); "
                                       "please try again shortly"},
                            status_code=503, headers={"Retry-After": str(OUTAGE_RETRY_SECONDS)})
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)

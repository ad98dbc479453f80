"""Unknown paths and methods under /api answer in JSON, before the UI's catch-all mount can answer with a page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _allowed(request: Request, path: str) -> set[str]:
    """The methods the API's own routes accept on `path` (those before the catch-all, not the UI mounted after)."""
    routes = request.app.router.routes
    routes = routes[:next(i for i, r in enumerate(routes) if getattr(r, "endpoint", None) is unknown_api_path)]
    return {method for method in _METHODS for route in routes
            if route.matches({**request.scope, "path": path, "method": method})[0] == Match.FULL}


def unknown_api_path(request: Request) -> Response:
    """405 with Allow for a known path, a redirect for a known path with a trailing slash, else 404."""
    path = request.url.path
    if allowed := _allowed(request, path):
        return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                            headers={"Allow": ", ".join(sorted(allowed))})
    if path.endswith("/") and request.method in _allowed(request, path.rstrip("/")):
        target = path.rstrip("/") + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(target, status_code=307)
    return JSONResponse({"detail": "Not Found"}, status_code=404)


def add_fallback(app: FastAPI) -> None:
    """Register the /api catch-all; call it after every other route."""
    app.add_api_route("/api/{rest:path}", unknown_api_path, methods=_METHODS, include_in_schema=False)

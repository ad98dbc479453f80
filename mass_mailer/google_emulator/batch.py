"""Google's batch endpoint: multipart/mixed of embedded HTTP requests, answered in kind."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from mass_mailer.google_emulator.multipart import boundary_of, parse_headers, split_head, split_parts
from mass_mailer.google_emulator.wire import Request, Response, google_error

MAX_CALLS = 100  # Gmail's limit per batch

Dispatch = Callable[[Request], Awaitable[Response]]


def _inner_request(part: bytes, outer: Request) -> tuple[str | None, Request | None]:
    """(Content-ID, embedded request) of one part; the request is None when unreadable."""
    part_lines, http_message = split_head(part)
    content_id = parse_headers(part_lines).get("content-id")
    lines, body = split_head(http_message)
    request_line = lines[0].split() if lines else []
    if len(request_line) < 2:
        return content_id, None
    target = urlsplit(request_line[1])
    headers = parse_headers(lines[1:])
    # A part without its own credentials uses the batch request's.
    if "authorization" not in headers and "authorization" in outer.headers:
        headers["authorization"] = outer.headers["authorization"]
    headers.setdefault("host", outer.headers.get("host", ""))
    return content_id, Request(request_line[0].upper(), target.path, target.query, headers, body.rstrip(b"\r\n"))


def _response_id(content_id: str | None, index: int) -> str:
    """`<response-X>` for a request's `<X>`, as googleapiclient's BatchHttpRequest expects."""
    if content_id and content_id.startswith("<") and content_id.endswith(">"):
        return f"<response-{content_id[1:-1]}>"
    return f"<response-{content_id or index + 1}>"


def _render_part(response_id: str, response: Response) -> bytes:
    head = [f"HTTP/1.1 {response.status} {response.reason}"]
    head += [f"{name.title()}: {value}" for name, value in response.headers if name != "content-length"]
    head.append(f"Content-Length: {len(response.body)}")
    inner = "\r\n".join(head).encode() + b"\r\n\r\n" + response.body
    outer = f"Content-Type: application/http\r\nContent-ID: {response_id}\r\n\r\n".encode()
    return outer + inner


async def handle(req: Request, dispatch: Dispatch) -> Response:
    """Run every embedded call (each one counts on its own) and answer multipart/mixed."""
    boundary = boundary_of(req.headers.get("content-type", ""))
    if not req.headers.get("content-type", "").lower().startswith("multipart/mixed") or not boundary:
        return google_error(400, "Batch requests must be multipart/mixed with a boundary.", "badRequest")
    parts = split_parts(req.body, boundary)
    if not parts:
        return google_error(400, "Batch request contains no parts.", "badRequest")
    if len(parts) > MAX_CALLS:
        return google_error(
            400, f"Too many requests in batch: {len(parts)}, at most {MAX_CALLS} allowed.", "badRequest"
        )
    calls = [_inner_request(part, req) for part in parts]
    unreadable = google_error(400, "Could not parse the embedded HTTP request.", "badRequest")
    # gather() starts the calls in order, so without latency each finishes before the next begins.
    responses = await asyncio.gather(*(dispatch(inner) if inner else _ready(unreadable) for _, inner in calls))
    reply_boundary = "batch_" + secrets.token_urlsafe(12)
    delimiter = f"--{reply_boundary}\r\n".encode()
    body = b"".join(
        delimiter + _render_part(_response_id(cid, i), resp) + b"\r\n"
        for i, ((cid, _), resp) in enumerate(zip(calls, responses, strict=True))
    )
    body += f"--{reply_boundary}--\r\n".encode()
    return Response(200, body, [("content-type", f"multipart/mixed; boundary={reply_boundary}")])


async def _ready(response: Response) -> Response:
    return response

"""Minimal HTTP request/response types and Google's error bodies."""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=UTF-8"

# Google's canonical status names for the HTTP codes the emulator answers.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Request:
    """An HTTP request, either from the server or unpacked from a batch part."""

    __slots__ = ("_query", "body", "headers", "method", "path", "query_string")

    def __init__(self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers  # lower-case names
        self.body = body
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string, keep_blank_values=True))
        return self._query

    def form(self) -> dict[str, str]:
        """The urlencoded body as a dict (last value wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> object:
        """The JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body or b"null")

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer` header, if any."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) of an `Authorization: Basic` header, if well-formed."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    @property
    def base_url(self) -> str:
        return "http://" + self.headers.get("host", "127.0.0.1")


class Response:
    """Status, headers and a body that is already bytes."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"


def json_response(data: object, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response with Google's content type."""
    return Response(status, json.dumps(data).encode(), [("content-type", JSON_TYPE), *(headers or [])])


def google_error(
    code: int, message: str, reason: str, *, status: str | None = None, domain: str = "global", headers=None
) -> Response:
    """An API error in Google's `{"error": {...}}` JSON shape."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }
    return json_response(body, code, headers)


def oauth_error(status: int, error: str, description: str) -> Response:
    """An OAuth2 endpoint error (`{"error", "error_description"}`), as the token endpoint answers."""
    return json_response({"error": error, "error_description": description}, status)

"""Splitting multipart bodies and header blocks, tolerant of LF-only line endings."""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type."""
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts between the delimiters, without the line breaks that belong to the delimiters."""
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        newline = chunk.find(b"\n")  # rest of the delimiter line (transport padding)
        chunk = chunk[newline + 1 :] if newline >= 0 else b""
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return parts


def split_head(data: bytes) -> tuple[list[str], bytes]:
    """(header lines, body) split at the first blank line; folded lines are joined."""
    match = _BLANK_LINE.search(data)
    head, body = (data[: match.start()], data[match.end() :]) if match else (data, b"")
    lines: list[str] = []
    for line in head.decode("utf-8", "replace").splitlines():
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    return lines, body


def parse_headers(lines: list[str]) -> dict[str, str]:
    """`Name: value` lines as a dict with lower-case names."""
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers

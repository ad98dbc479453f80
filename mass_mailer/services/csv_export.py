"""CSV downloads: rows as lines, each cell guarded against formula injection in spreadsheets."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any


def iter_csv_rows(header: tuple[str, ...], rows: Iterable[tuple]) -> Iterator[str]:
    """CSV text line by line, each cell guarded against formula injection in spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in itertools.chain([header], rows):
        writer.writerow([_safe_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _safe_cell(value: Any) -> str:
    text_value = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    if text_value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text_value
    return text_value

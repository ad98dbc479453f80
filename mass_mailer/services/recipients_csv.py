"""Recipient lists from CSV files or JSON objects: parsing, normalising and validating, row by row.

A CSV file is read in chunks (`open_recipients_csv`): its header is checked at once, then each chunk of rows is
parsed, checked and handed over before the next is read, so a large file is never held as Python rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from mass_mailer.errors import InvalidInput, PayloadTooLarge, Unprocessable
from mass_mailer.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd  # imported where a file is parsed: the worker, which never parses one, stays without it

EMAIL_COLUMN_NAMES = ("email", "e_mail", "email_address", "e_mail_address", "mail", "email_addr",
                      "emailaddress", "recipient", "recipient_email", "to")
DELIMITERS = ",;\t|"
MAX_FIELD_LEN = 10_000
MAX_COLUMNS = 200
CHUNK_ROWS = 2_500  # rows parsed, checked and stored at a time (small: PostgreSQL never waits long)
FIRST_CHUNK_ROWS = 1_000  # the first chunk: small, so that storing starts early
# A plain ASCII local part (RFC 5322 dot-atom): email-validator accepts it as it is, so only its domain needs a check.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# A plain address: such a local part of at most 64 characters at a plain ASCII host name (labels of letters, digits
# and inner hyphens, at most 63 characters, at least two labels, the last one ending with a letter). email-validator
# accepts it as it is, lower-casing the domain (and a few well-known mailbox names), unless the address is longer than
# 254 characters or its domain is a special-use one or has a label with "--" (IDNA): those are left to it.
_PLAIN_ADDRESS = re.compile(r"(?=[^@]{1,64}@)(" + _PLAIN_LOCAL.pattern + r")@"
                            r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                            r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]")
_SPECIAL_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)
_CASE_INSENSITIVE_LOCALS = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # email-validator lower-cases these mailboxes


class NoEmailColumn(Unprocessable):
    """The file has no column recognisable as the addresses; `columns` are those it has, to choose from."""

    def __init__(self, message: str, columns: list[str], headers: list[str]) -> None:
        super().__init__(message)
        self.columns, self.headers = columns, headers


@dataclass
class ParsedRecipients:
    """A validated recipient list: valid rows to send to and rejected rows with their reasons."""

    columns: list[str]
    rows: list[dict[str, Any]]  # every data row, as read (normalised keys)
    valid: list[dict[str, Any]]  # {"email": ..., other fields...}, duplicates and invalid ones removed
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"row", "email", "reason"}
    email_column: str = "email"
    headers: list[str] = field(default_factory=list)  # the file's own headers, in the order of `columns`
    valid_rows: list[int] = field(default_factory=list)  # the row number of each valid recipient

    def drop(self, emails: dict[str, str]) -> None:
        """Move the valid recipients whose lower-case address is a key of `emails` to `rejected`, with its value as
        the reason, keeping the rejected rows in row order."""
        keep, numbers, dropped = [], [], []
        for number, row in zip(self.valid_rows, self.valid):
            if (reason := emails.get(row["email"].lower())) is None:
                keep.append(row)
                numbers.append(number)
            else:
                dropped.append({"row": number, "email": row["email"], "reason": reason})
        self.valid, self.valid_rows = keep, numbers
        self.rejected = sorted(self.rejected + dropped, key=lambda r: r["row"])


def normalise_header(name: Any) -> str:
    """A column header in lower_snake_case, usable as a template variable."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if text and text[0].isdigit():
        text = "f_" + text
    return text or "column"


def parse_recipients_csv(data: bytes, email_column: str | None = None) -> ParsedRecipients:
    """Parse an uploaded CSV file into recipients; raise a domain error when the file cannot be used. Every row is
    kept (the UI's preview and the suppression import); a job reads the file in chunks instead."""
    source = open_recipients_csv(data, email_column)
    rows: list[dict[str, Any]] = []
    valid: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    numbers: list[int] = []
    for chunk in source.chunks():
        rows.extend(chunk.rows())
        valid.extend(chunk.recipient(position) for position in range(len(chunk.emails)))
        numbers.extend(chunk.first_row + index for index in chunk.valid)
        rejected.extend(chunk.rejected)
    return ParsedRecipients(columns=source.columns, rows=rows, valid=valid, rejected=rejected,
                            email_column=source.email_column, headers=source.headers, valid_rows=numbers)


@dataclass
class RecipientChunk:
    """Rows of a CSV file, checked: each column's cells, and which rows are valid recipients (the others are in
    `rejected` with their reasons)."""

    first_row: int  # the spreadsheet row number of the chunk's first row (the header is row 1)
    columns: list[str]  # the file's columns (normalised names)
    cells: list[list[Any]]  # per column, its cell in each row: text, or a float NaN for an empty cell
    email_index: int  # the address column's place in `columns`
    valid: list[int]  # the index in the chunk of each valid recipient, in row order
    emails: list[str]  # their normalised addresses
    rejected: list[dict[str, Any]]  # {"row", "email", "reason"}, in row order

    @property
    def size(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    @cached_property
    def _fields(self) -> list[tuple[str, list[Any]]]:
        """The personalisation fields: every column but the address column (and one named like the address)."""
        return [(name, column) for index, (name, column) in enumerate(zip(self.columns, self.cells))
                if index != self.email_index and name != "email"]

    def rows(self) -> list[dict[str, Any]]:
        """Every row as read: {column: text}, empty cells left out."""
        return [{name: value[:MAX_FIELD_LEN] for name, value in zip(self.columns, row) if value.__class__ is str}
                for row in zip(*self.cells)]

    def recipient(self, position: int) -> dict[str, Any]:
        """The valid recipient at `position` (its place in `valid`): {"email": address, other fields...}."""
        index = self.valid[position]
        fields = {name: column[index][:MAX_FIELD_LEN] for name, column in self._fields
                  if column[index].__class__ is str}
        return {"email": self.emails[position], **fields}

    def data_json(self) -> list[str]:
        """Each valid recipient's fields (not the address) as a JSON object, empty cells left out: what
        `json.dumps(fields, ensure_ascii=False, separators=(",", ":"))` gives, built a column at a time."""
        every = len(self.valid) == self.size
        parts = []
        for name, column in self._fields:
            if not every:
                column = [column[index] for index in self.valid]
            key = "," + encode_basestring(name) + ":"
            parts.append([key + encode_basestring(value[:MAX_FIELD_LEN]) if value.__class__ is str else ""
                          for value in column])
        if not parts:
            return ["{}"] * len(self.valid)
        return ["{" + "".join(row)[1:] + "}" for row in zip(*parts)]

    def drop(self, reasons: dict[str, str]) -> None:
        """Move the valid recipients whose lower-case address is a key of `reasons` to `rejected`, with its value as
        the reason, keeping the rejected rows in row order."""
        valid, emails, dropped = [], [], []
        for index, email in zip(self.valid, self.emails):
            if (reason := reasons.get(email.lower())) is None:
                valid.append(index)
                emails.append(email)
            else:
                dropped.append({"row": self.first_row + index, "email": email, "reason": reason})
        if dropped:
            self.valid, self.emails = valid, emails
            self.rejected = sorted(self.rejected + dropped, key=lambda r: r["row"])


class RecipientsCsv:
    """A CSV file opened for reading: its header checked and its address column chosen; `chunks()` reads the rows
    CHUNK_ROWS at a time, checks each address (duplicates across the whole file included) and hands the chunk over
    before reading on. Errors of the file itself (a ragged row, an unclosed quote, too many rows) are raised when
    reading reaches them, after the rows before them were handed over."""

    def __init__(self, reader: Any, first: pd.DataFrame, email_column: str | None) -> None:
        self._reader, self._first = reader, first
        self.headers = [str(h).strip() for h in first.columns]
        self.columns = _unique_headers(first.columns)
        if first.empty:
            raise InvalidInput("The CSV file has a header row but no recipients below it")
        try:
            self.email_column = _email_column(self.columns, email_column)
        except NoEmailColumn as exc:
            self._drain()  # an unreadable row further down is the first thing to say, as for a whole-file read
            raise NoEmailColumn(exc.message, self.columns, self.headers) from None
        self._email_index = self.columns.index(self.email_column)
        self._seen: set[str] = set()
        self.rows_read = 0

    def chunks(self) -> Iterator[RecipientChunk]:
        limit = get_settings().max_recipients
        frame, self._first = self._first, None
        while frame is not None:
            self.rows_read += len(frame)
            if self.rows_read > limit:
                self._drain()
                raise PayloadTooLarge(f"Too many recipients: at most {limit} per job")
            yield self._check(frame)
            frame = _next_frame(self._reader)

    def _drain(self) -> None:
        while _next_frame(self._reader) is not None:
            pass

    def _check(self, frame: pd.DataFrame) -> RecipientChunk:
        first_row = self.rows_read - len(frame) + 2
        cells = [frame.iloc[:, index].tolist() for index in range(frame.shape[1])]
        seen, valid, emails, rejected = self._seen, [], [], []
        plain = plain_address
        for index, raw in enumerate(cells[self._email_index]):
            raw = raw[:MAX_FIELD_LEN].strip() if raw.__class__ is str else ""
            reason, email = None, plain(raw)
            if email is None:
                reason, email = check_address(raw)
            if reason is None:
                lowered = email.lower()
                if lowered not in seen:
                    seen.add(lowered)
                    valid.append(index)
                    emails.append(email)
                    continue
                reason = "duplicate"
            rejected.append({"row": first_row + index, "email": raw, "reason": reason})
        return RecipientChunk(first_row=first_row, columns=self.columns, cells=cells, email_index=self._email_index,
                              valid=valid, emails=emails, rejected=rejected)


def open_recipients_csv(data: bytes, email_column: str | None = None) -> RecipientsCsv:
    """Open an uploaded CSV file for reading in chunks; raise a domain error when the file cannot be used (too
    large, empty, too wide, no readable header, no rows, no address column)."""
    settings = get_settings()
    if len(data) > settings.max_upload_mb * 1024 * 1024:
        raise PayloadTooLarge(f"The file is larger than {settings.max_upload_mb} MB")
    data, encoding, start = _prepare(data)
    head = _head_text(data, encoding, start)
    if not head.strip() and (len(data) - start <= _HEAD_BYTES or not data[start:].decode(encoding).strip()):
        raise InvalidInput("The CSV file is empty")
    delimiter = _delimiter(head)
    _check_width(head, delimiter)
    buffer = io.BytesIO(data)  # shares the bytes, no copy
    buffer.seek(start)
    import pandas as pd

    try:
        reader = pd.read_csv(buffer, sep=delimiter, dtype=str, keep_default_na=False, na_values=[""],
                             skipinitialspace=True, skip_blank_lines=True, engine="c", encoding=encoding,
                             chunksize=CHUNK_ROWS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(f"The CSV file could not be read: {_reason(str(exc))}") from None
    first = _next_frame(reader, FIRST_CHUNK_ROWS)
    if first is None:  # pandas always gives a first chunk, empty for a header alone
        raise InvalidInput("The CSV file has a header row but no recipients below it")
    return RecipientsCsv(reader, first, email_column)


def _next_frame(reader: Any, rows: int | None = None) -> pd.DataFrame | None:
    """The reader's next `rows` (CHUNK_ROWS) rows, fewer at the end, None after it; a parser error in the user's
    words."""
    import pandas as pd

    try:
        return reader.get_chunk(rows or CHUNK_ROWS)
    except StopIteration:
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(f"The CSV file could not be read: {_reason(str(exc))}") from None


def parse_recipients_json(items: list[dict[str, Any]]) -> ParsedRecipients:
    """Recipients given as JSON objects, each with an "email" field."""
    rows = [{normalise_header(k): v for k, v in item.items() if v is not None} for item in items]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput(f"The recipients have {len(columns)} different fields; at most {MAX_COLUMNS} are allowed")
    return validate_recipients(rows, columns=columns, email_column="email", first_row=1)


def validate_recipients(rows: list[dict[str, Any]], *, columns: list[str], email_column: str,
                        first_row: int) -> ParsedRecipients:
    """Check every address, drop duplicates case-insensitively, and keep the other fields as data."""
    if len(rows) > get_settings().max_recipients:
        raise PayloadTooLarge(f"Too many recipients: at most {get_settings().max_recipients} per job")
    seen: set[str] = set()
    valid, rejected, numbers = [], [], []
    for number, row in enumerate(rows, start=first_row):
        raw = str(row.get(email_column) or "").strip()
        reason, email = check_address(raw)
        if reason is None and email.lower() in seen:
            reason = "duplicate"
        if reason:
            rejected.append({"row": number, "email": raw, "reason": reason})
            continue
        seen.add(email.lower())
        data = {k: v for k, v in row.items() if k != email_column}
        valid.append({"email": email, **data})
        numbers.append(number)
    return ParsedRecipients(columns=columns, rows=rows, valid=valid, rejected=rejected, email_column=email_column,
                            valid_rows=numbers)


def check_address(raw: str) -> tuple[str | None, str]:
    """(None, normalised address) or (reason, raw). Plain addresses are normalised as email-validator would, without
    calling it; other plain local parts reuse their domain's check (lists share a few domains); anything else, or a
    failing domain, goes through email-validator, for the same result."""
    if not raw:
        return "missing email address", raw
    if (email := plain_address(raw)) is not None:
        return None, email
    local, _, domain = raw.rpartition("@")
    if len(local) <= 64 and len(raw) <= 254 and raw.isascii() and _PLAIN_LOCAL.fullmatch(local):
        if normalised_domain := _valid_domain(domain):
            return None, f"{local}@{normalised_domain}"
    try:
        return None, validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"invalid email address: {exc}", raw


def plain_address(raw: str) -> str | None:
    """The normalised form of a plain address (see _PLAIN_ADDRESS), exactly what email-validator gives; None for
    any other text (which may still be a valid address)."""
    found = _PLAIN_ADDRESS.fullmatch(raw)
    if found is None or len(raw) > 254 or "--" in raw:
        return None
    lowered = raw.lower()
    if lowered.endswith(_SPECIAL_SUFFIXES):
        return None
    if lowered == raw:
        return raw
    at = found.end(1)
    local = lowered[:at]
    return lowered if local in _CASE_INSENSITIVE_LOCALS else raw[:at] + lowered[at:]


@lru_cache(maxsize=4096)
def _valid_domain(domain: str) -> str | None:
    """The normalised domain when an address at it passes email-validator, else None."""
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).normalized.rpartition("@")[2]
    except EmailNotValidError:
        return None


_HEAD_BYTES = 4 * 1024 * 1024  # decoded to find the separator and the header's width: at least 1,048,576 characters


def _prepare(data: bytes) -> tuple[bytes, str, int]:
    """(bytes, encoding, where the text starts) of a file: UTF-8 (after a BOM), cp1252 or latin-1 as bytes; UTF-16
    text re-encoded as UTF-8. NUL characters (which PostgreSQL cannot store) are dropped."""
    # A UTF-16 byte-order mark is Excel's "Unicode Text"; else UTF-8 (a BOM is skipped) first; spreadsheets on
    # Windows often save cp1252; latin-1 never fails. Only the choice is made on the whole file; the text is decoded
    # chunk by chunk as it is parsed.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidInput("The file starts like UTF-16 text but cannot be read as UTF-16") from None
        return text.replace("\x00", "").encode("utf-8"), "utf-8", 0
    encoding = "latin-1"
    if data.isascii():
        encoding = "utf-8"
    else:
        for candidate in ("utf-8", "cp1252"):
            try:
                data.decode(candidate)
            except UnicodeDecodeError:
                continue
            encoding = candidate
            break
    if b"\x00" in data:  # in these encodings a NUL byte is the NUL character and nothing else
        data = data.replace(b"\x00", b"")
    start = len(codecs.BOM_UTF8) if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8) else 0
    return data, encoding, start


def _head_text(data: bytes, encoding: str, start: int) -> str:
    """The start of the file's text: enough characters to find its separator and check its header."""
    return data[start:start + _HEAD_BYTES].decode(encoding, errors="ignore")  # only a character cut at the end


def _check_width(text: str, delimiter: str) -> None:
    """Refuse a header of more than MAX_COLUMNS columns before the file is parsed into a table."""
    try:
        header = next(csv.reader(io.StringIO(text[:1024 * 1024]), delimiter=delimiter), [])
    except csv.Error:  # a header cell beyond the csv module's field limit: pandas gives the reason
        return
    if len(header) > MAX_COLUMNS:
        raise InvalidInput(f"The CSV file has {len(header):,} columns; at most {MAX_COLUMNS} are allowed")


_RAGGED_ROW = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _reason(parser_message: str) -> str:
    """pandas' parser error in the user's words (no "C error", no tokenizer terms)."""
    if ragged := _RAGGED_ROW.search(parser_message):
        expected, line, saw = ragged.groups()
        return f"row {line} has {saw} cells but the header row has {expected}; check the separators and quotes"
    if "EOF" in parser_message:
        return "a quoted cell is never closed; check the quotes"
    if "No columns" in parser_message:
        return "it has no header row"
    return "it is not a valid CSV file"


def _delimiter(text: str) -> str:
    sample = text[:64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        return max(DELIMITERS, key=header.count)


def _unique_headers(headers) -> list[str]:
    """Normalised headers, a repeated one numbered (`name`, `name_2`, ...)."""
    names: list[str] = []
    taken: set[str] = set()
    for header in headers:
        name = base = normalise_header(header)
        suffix = 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
        taken.add(name)
    return names


def _email_column(columns: list[str], requested: str | None) -> str:
    if requested:
        name = normalise_header(requested)
        if name not in columns:
            raise NoEmailColumn(f"The CSV file has no column named {requested!r}", columns, [])
        return name
    for candidate in EMAIL_COLUMN_NAMES:
        if candidate in columns:
            return candidate
    found = [c for c in columns if "mail" in c]
    if len(found) == 1:
        return found[0]
    raise NoEmailColumn("No email column found: name a column 'email', or choose the column that holds the "
                        "addresses (email_column in the API)", columns, [])

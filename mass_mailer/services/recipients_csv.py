"""Recipient lists from CSV files or JSON objects: parsing, normalising and validating, row by row."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd
from email_validator import EmailNotValidError, validate_email

from mass_mailer.errors import InvalidInput, PayloadTooLarge, Unprocessable
from mass_mailer.settings import get_settings

EMAIL_COLUMN_NAMES = ("email", "e_mail", "email_address", "e_mail_address", "mail", "email_addr",
                      "emailaddress", "recipient", "recipient_email", "to")
DELIMITERS = ",;\t|"
MAX_FIELD_LEN = 10_000
MAX_COLUMNS = 200
# A plain ASCII local part (RFC 5322 dot-atom): email-validator accepts it as it is, so only its domain needs a check.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


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
    """Parse an uploaded CSV file into recipients; raise a domain error when the file cannot be used."""
    settings = get_settings()
    if len(data) > settings.max_upload_mb * 1024 * 1024:
        raise PayloadTooLarge(f"The file is larger than {settings.max_upload_mb} MB")
    text = _decode(data)
    if not text.strip():
        raise InvalidInput("The CSV file is empty")
    delimiter = _delimiter(text)
    _check_width(text, delimiter)
    frame = _read_frame(text, delimiter)
    headers = [str(h).strip() for h in frame.columns]
    columns = _unique_headers(frame.columns)
    frame.columns = columns
    if frame.empty:
        raise InvalidInput("The CSV file has a header row but no recipients below it")
    try:
        column = _email_column(columns, email_column)
    except NoEmailColumn as exc:
        raise NoEmailColumn(exc.message, columns, headers) from None
    rows = [_clean_row(record) for record in frame.to_dict("records")]
    parsed = validate_recipients(rows, columns=columns, email_column=column, first_row=2)
    parsed.headers = headers
    return parsed


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
    """(None, normalised address) or (reason, raw). Plain addresses reuse their domain's check (lists share a
    few domains); anything else, or a failing domain, goes through email-validator, for the same result."""
    if not raw:
        return "missing email address", raw
    local, _, domain = raw.rpartition("@")
    if len(local) <= 64 and len(raw) <= 254 and raw.isascii() and _PLAIN_LOCAL.fullmatch(local):
        if normalised_domain := _valid_domain(domain):
            return None, f"{local}@{normalised_domain}"
    try:
        return None, validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"invalid email address: {exc}", raw


@lru_cache(maxsize=4096)
def _valid_domain(domain: str) -> str | None:
    """The normalised domain when an address at it passes email-validator, else None."""
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).normalized.rpartition("@")[2]
    except EmailNotValidError:
        return None


def _decode(data: bytes) -> str:
    """The file's text; NUL characters (which PostgreSQL cannot store) are dropped."""
    return _decode_bytes(data).replace("\x00", "")


def _decode_bytes(data: bytes) -> str:
    # A UTF-16 byte-order mark is Excel's "Unicode Text"; else UTF-8 (a BOM is dropped) first; spreadsheets on
    # Windows often save cp1252; latin-1 never fails.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidInput("The file starts like UTF-16 text but cannot be read as UTF-16") from None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _check_width(text: str, delimiter: str) -> None:
    """Refuse a header of more than MAX_COLUMNS columns before the file is parsed into a table."""
    try:
        header = next(csv.reader(io.StringIO(text[:1024 * 1024]), delimiter=delimiter), [])
    except csv.Error:  # a header cell beyond the csv module's field limit: pandas gives the reason
        return
    if len(header) > MAX_COLUMNS:
        raise InvalidInput(f"The CSV file has {len(header):,} columns; at most {MAX_COLUMNS} are allowed")


def _read_frame(text: str, delimiter: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           na_values=[""], skipinitialspace=True, skip_blank_lines=True, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(f"The CSV file could not be read: {_reason(str(exc))}") from None


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


def _clean_row(record: dict[str, Any]) -> dict[str, Any]:
    # NaN (an empty cell) becomes a missing field, so templates can use `default`.
    return {k: str(v)[:MAX_FIELD_LEN] for k, v in record.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))}

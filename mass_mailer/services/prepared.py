"""Server-side prepared statements for the sending engine's hot statements.

psycopg2 sends every statement as text, so PostgreSQL parses and plans the engine's claim and settle statements
(several CTEs each) at every send; planning was a large part of PostgreSQL's CPU per message. A `Prepared` is
PREPAREd once per database connection and then run with EXECUTE, on the same SQLAlchemy connection (its errors,
invalidation and pooling unchanged). The statements keep their `:name` parameters; several statements separated by
`;` run as one round trip and one transaction, as before.

The EXECUTE itself goes straight to the driver's cursor: SQLAlchemy's result machinery (its cursor metadata for each
call) is work the worker need not do on every send. Driver errors are raised as SQLAlchemy's
(a lost connection invalidates the connection, as SQLAlchemy would), so callers handle them exactly as before.
"""

from __future__ import annotations

import re
from itertools import count
from typing import Any

import psycopg2
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_NAMES = count(1)


class Prepared:
    """One statement (or several, `;`-separated), prepared on first use on each connection."""

    def __init__(self, statement: TextClause | str) -> None:
        sql = statement.text if isinstance(statement, TextClause) else statement
        self.parts: list[tuple[str, str]] = []  # (name, PREPARE statement)
        executes = []
        for part in (p.strip() for p in sql.split(";")):
            if not part:
                continue
            names: list[str] = []

            def positional(match: re.Match) -> str:
                if match.group(1) not in names:
                    names.append(match.group(1))
                return f"${names.index(match.group(1)) + 1}"

            body = _PARAM.sub(positional, part)
            name = f"mm_engine_{next(_NAMES)}"
            self.parts.append((name, f"PREPARE {name} AS {body}"))
            args = ", ".join(f"%({n})s" for n in names)
            executes.append(f"EXECUTE {name}({args})" if names else f"EXECUTE {name}")
        self.execute_sql = "; ".join(executes)

    def run(self, conn: Connection, params: dict) -> list[tuple[Any, ...]]:
        """Execute on `conn` (autocommit: the parts run as one transaction), preparing it there first if needed; the
        rows of the last part."""
        fairy = conn.connection
        done = fairy.info.setdefault("mass_mailer_prepared", set())
        if self.parts[0][0] not in done:
            for name, prepare in self.parts:
                conn.exec_driver_sql(prepare)
                done.add(name)
        cursor = None
        try:
            cursor = fairy.dbapi_connection.cursor()
            cursor.execute(self.execute_sql, params)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg2.Error as exc:
            lost = conn.dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(self.execute_sql, params, exc, psycopg2.Error,
                                      connection_invalidated=lost, dialect=conn.dialect) from exc
        finally:
            if cursor is not None and not cursor.closed:
                cursor.close()

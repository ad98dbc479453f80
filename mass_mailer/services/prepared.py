"""Server-side prepared statements for the sending engine's hot statements.

psycopg2 sends every statement as text, so PostgreSQL parses and plans the engine's claim and settle statements
(several CTEs each) at every send; planning was a large part of PostgreSQL's CPU per message. A `Prepared` is
PREPAREd once per database connection and then run with EXECUTE, on the same SQLAlchemy connection (its errors,
invalidation and pooling unchanged). The statements keep their `:name` parameters; several statements separated by
`;` run as one round trip and one transaction, as before.
"""

from __future__ import annotations

import re
from itertools import count

from sqlalchemy import Connection, CursorResult
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

    def run(self, conn: Connection, params: dict) -> CursorResult:
        """Execute on `conn` (autocommit: the parts run as one transaction), preparing it there first if needed."""
        done = conn.connection.info.setdefault("mass_mailer_prepared", set())
        if self.parts[0][0] not in done:
            for name, prepare in self.parts:
                conn.exec_driver_sql(prepare)
                done.add(name)
        return conn.exec_driver_sql(self.execute_sql, params)

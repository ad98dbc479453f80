"""Storing a 100,000-row CSV as a job (parse, validate, COPY) beside a raw PostgreSQL COPY of the same rows.

    python bench/bench_csv.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import io
import json
import time

from sending_stack import Stack, line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    stack = Stack()
    try:
        from sqlalchemy import text
        from sqlmodel import Session

        from mass_mailer import crypto
        from mass_mailer.db import get_engine
        from mass_mailer.models import EmailJob, Sender, User
        from mass_mailer.services.jobs import create_job_from_csv

        data = ("email,first_name,company\n" + "".join(
            f"user{i}@example.com,Name{i},Company {i % 97}\n" for i in range(args.rows))).encode()
        with Session(get_engine(), expire_on_commit=False) as session:
            user = User(email="bench@example.com")
            session.add(user)
            session.commit()
            session.add(Sender(user_id=user.id, email="s@example.com", access_token=crypto.encrypt("x"),
                               refresh_token=crypto.encrypt("y")))
            job = EmailJob(user_id=user.id, subject="s", html_content="h")
            session.add(job)
            session.commit()

            rows = io.StringIO("".join(
                f'{job.id},user{i}@example.com,"{json.dumps({"first_name": f"Name{i}", "company": f"Company {i % 97}"}).replace(chr(34), chr(34) * 2)}"\n'
                for i in range(args.rows)))
            started = time.perf_counter()
            cursor = session.connection().connection.dbapi_connection.cursor()
            cursor.copy_expert("COPY email_recipients (job_id, email, data) FROM STDIN WITH (FORMAT csv)", rows)
            session.commit()
            raw = time.perf_counter() - started
            session.execute(text("DELETE FROM email_recipients"))
            session.commit()

            started = time.perf_counter()
            created = create_job_from_csv(session=session, user=user, subject="Hi {{ first_name }}",
                                          html_content="<p>{{ company }}</p>", data=data)
            took = time.perf_counter() - started
        assert created.total_recipients == args.rows
        line(f"store a {args.rows}-row CSV as a job (s, target ratio <= 4)", took, raw, " s")
    finally:
        stack.close()


if __name__ == "__main__":
    main()

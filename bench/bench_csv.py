"""Storing a 100,000-row CSV as a job (parse, validate, COPY) beside a raw PostgreSQL COPY of the same rows.

    python bench/bench_csv.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time

from sending_stack import Stack, line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = Stack()
    try:
        from sqlmodel import Session

        from mass_mailer import crypto
        from mass_mailer.db import get_engine
        from mass_mailer.models import EmailJob, Sender, User

        data = ("email,first_name,company\n" + "".join(
            f"user{i}@example.com,Name{i},Company {i % 97}\n" for i in range(args.rows))).encode()
        with Session(get_engine(), expire_on_commit=False) as session:
            user = User(email="bench@example.com")
            session.add(user)
            session.commit()
            session.add(Sender(user_id=user.id, email="s@example.com", access_token=crypto.encrypt("x"),
                               refresh_token=crypto.encrypt("y")))
            session.commit()
            raw, stored = [], []
            for _ in range(args.rounds):  # alternate the two, so that both see the same database state
                job = EmailJob(user_id=user.id, subject="s", html_content="h")
                session.add(job)
                session.commit()
                raw.append(raw_copy(session, job.id, args.rows))
                stored.append(store_job(session, user, data, args.rows))
        print("   rounds (s): job " + " ".join(f"{t:.2f}" for t in stored) + ", raw COPY "
              + " ".join(f"{t:.2f}" for t in raw), flush=True)
        line(f"store a {args.rows}-row CSV as a job (s, median, target ratio <= 4)", statistics.median(stored),
             statistics.median(raw), " s")
    finally:
        stack.close()


def raw_copy(session, job_id: int, rows: int) -> float:
    """COPY the same rows, already in COPY's CSV format, into the database."""
    lines = []
    for i in range(rows):
        data = json.dumps({"first_name": f"Name{i}", "company": f"Company {i % 97}"}).replace('"', '""')
        lines.append(f'{job_id},user{i}@example.com,"{data}"\n')
    buffer = io.StringIO("".join(lines))
    started = time.perf_counter()
    cursor = session.connection().connection.dbapi_connection.cursor()
    cursor.copy_expert("COPY email_recipients (job_id, email, data) FROM STDIN WITH (FORMAT csv)", buffer)
    session.commit()
    return time.perf_counter() - started


def store_job(session, user, data: bytes, rows: int) -> float:
    """Parse, validate and store the CSV file as a job, as an upload does."""
    from mass_mailer.services.jobs import create_job_from_csv

    started = time.perf_counter()
    created = create_job_from_csv(session=session, user=user, subject="Hi {{ first_name }}",
                                  html_content="<p>{{ company }}</p>", data=data)
    took = time.perf_counter() - started
    assert created.total_recipients == rows
    return took

if __name__ == "__main__":
    main()

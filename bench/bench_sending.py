"""Sending engine benchmarks, each beside a baseline from the same run.

1. Throughput with no latency or limits: the engine (worker + scheduler, claim and settle per message) against
   a plain loop sending the same messages with the same Gmail client, MIME building, processes and threads;
   rounds alternate the two, and the medians are compared. Then the same with PostgreSQL on a core of its own and
   everything else on the other (as with the database on its own host): the engine's cost outside the database.
2. Scale-out: two `worker` commands (as on two hosts) against one, with Gmail's latency (100 ms) as the limit
   rather than this machine's two cores or the database: the throughput ratio, target >= 1.6.
3. Realistic limits (150 ms latency, 60/min per account, 10 senders): sends per minute against the ideal 600/min,
   with the emulator's count of rate violations.
4. Worker RSS while sending, against the 150 MB budget.

    python bench/bench_sending.py [--messages 5000] [--rounds 3] [--paced-seconds 60]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from sending_stack import Stack, line

PROCESSES, THREADS = 2, 8


def make_senders(stack: Stack, count: int, quota: int):
    from sqlmodel import Session

    from mass_mailer import crypto
    from mass_mailer.db import get_engine
    from mass_mailer.models import Sender, User

    with Session(get_engine(), expire_on_commit=False) as session:
        user = User(email="bench@example.com", name="Bench")
        session.add(user)
        session.commit()
        senders = []
        for i in range(count):
            tokens = stack.emulator_call("POST", "/_emulator/tokens", {"email": f"sender{i}@example.com"})
            sender = Sender(user_id=user.id, email=f"sender{i}@example.com", daily_quota=quota,
                            access_token=crypto.encrypt(tokens["access_token"]),
                            refresh_token=crypto.encrypt(tokens["refresh_token"]))
            session.add(sender)
            senders.append(sender)
        session.commit()
        return user, senders


def recipients(count: int, prefix: str = "r") -> list[dict]:
    return [{"email": f"{prefix}{i}@example.com", "first_name": f"Name{i}"} for i in range(count)]


SUBJECT, HTML = "Hello {{ first_name }}", "<h1>Hi {{ first_name }}</h1><p>News for <b>{{ email }}</b>.</p>"


def baseline_loop(senders, rows: list[dict]) -> float:
    """The same sends without the engine: as many processes and threads as the worker, each rendering, building
    the MIME message and sending through the same Gmail client; no database, no queue, no pacing."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(PROCESSES + 1)
    children = [context.Process(target=_baseline_process, args=(senders, rows, index, ready))
                for index in range(PROCESSES)]
    for child in children:
        child.start()
    ready.wait()  # every process has its clients: time the sends only, as for the engine
    started = time.perf_counter()
    for child in children:
        child.join()
    took = time.perf_counter() - started
    if any(child.exitcode for child in children):
        raise SystemExit("the baseline failed")
    return took


def _baseline_process(senders, rows: list[dict], index: int, ready) -> None:
    from mass_mailer.gmail.client import GmailClient
    from mass_mailer.gmail.credentials import SenderTokens
    from mass_mailer.services import unsubscribe
    from mass_mailer.services.sending import render_raw
    from mass_mailer.services.templating import compile_for_sending
    from mass_mailer import crypto

    templates = compile_for_sending(SUBJECT, HTML)
    threads = PROCESSES * THREADS
    parts = range(index * THREADS, (index + 1) * THREADS)
    clients = {part: GmailClient(SenderTokens(crypto.decrypt(senders[part % len(senders)].access_token),
                                              crypto.decrypt(senders[part % len(senders)].refresh_token), None))
               for part in parts}

    def work(part: int) -> None:
        sender = senders[part % len(senders)]
        for row in rows[part::threads]:
            url = unsubscribe.link(user_id=sender.user_id, job_id=0, email=row["email"])
            clients[part].send(render_raw(templates, sender_email=sender.email, sender_name="Bench",
                                          to=row["email"], data=row, unsubscribe_url=url))

    ready.wait()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, parts))


def run_job(user, rows: list[dict], until_done: bool = True, seconds: float = 0.0) -> tuple[float, int]:
    """Create a job and time it to completion (or count sends after `seconds`)."""
    from sqlmodel import Session

    from mass_mailer.db import get_engine
    from mass_mailer.models import EmailJob
    from mass_mailer.services.jobs import create_job_from_list

    with Session(get_engine(), expire_on_commit=False) as session:
        started = time.perf_counter()
        job_id = create_job_from_list(session=session, user=user, subject=SUBJECT, html_content=HTML,
                                      recipients=rows).id
    while True:
        time.sleep(0.1)
        with Session(get_engine()) as session:
            job = session.get(EmailJob, job_id)
            elapsed = time.perf_counter() - started
            if (until_done and job.status == "completed") or (not until_done and elapsed >= seconds):
                return elapsed, job.sent_count


def worker_rss_mb() -> float:
    """The largest resident set among the Dramatiq worker processes (the ones under the `worker` command)."""
    import psutil

    sizes = []
    for proc in psutil.process_iter(["cmdline"]):
        if "mass_mailer.tasks.worker_cli" in " ".join(proc.info["cmdline"] or []):
            sizes += [child.memory_info().rss for child in proc.children(recursive=True)]
    return max(sizes, default=0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-seconds", type=float, default=60)
    parser.add_argument("--scale-messages", type=int, default=1200)
    args = parser.parse_args()
    stack = Stack()
    try:
        rss = throughput(stack, args.messages, args.rounds)
        stack.reset()
        # The same with PostgreSQL on a core of its own, as on its own host: the engine's cost outside the
        # database, against the loop on the one core left.
        stack.pin_database_apart()
        rss = max(rss, throughput(stack, args.messages // 2, args.rounds, ", PostgreSQL on its own core"))
        stack.pin_database_apart(False)
        stack.reset()
        scale_out(stack, args.scale_messages)
        stack.reset()
        stack.configure(latency_ms=150, rate_per_minute=60)
        user, _ = make_senders(stack, 10, quota=2000)
        stack.start_engine(SENDER_RATE_PER_MINUTE="60", WORKER_PROCESSES=PROCESSES, WORKER_THREADS=THREADS)
        took, sent = run_job(user, recipients(2000), until_done=False, seconds=args.paced_seconds)
        rss = max(rss, worker_rss_mb())
        violations = stack.emulator_call("GET", "/_emulator/stats")["rate_violations"]
        print(f"   paced run: {took:.0f} s measured, {sent} sent, rate violations: {violations}", flush=True)
        line("paced sends per minute (10 senders at 60/min, target ratio >= 0.95, no violation)",
             sent / took * 60, 600.0)
        line("worker process RSS (MB, budget 150)", rss, 150.0)
    finally:
        stack.close()


def scale_out(stack: Stack, messages: int) -> None:
    """One `worker` command, then two (each 1 process x 4 threads, as on two small hosts), with one scheduler."""
    import os
    import subprocess
    import sys

    from sending_stack import ROOT

    stack.configure(latency_ms=100)
    user, _ = make_senders(stack, 8, quota=1_000_000)
    env = {**os.environ, "SENDER_RATE_PER_MINUTE": "10000", "WORKER_PROCESSES": "1", "WORKER_THREADS": "4",
           "JOB_RATE_LIMIT": "1000/minute"}
    rates = []
    for workers in (1, 2):
        procs = [subprocess.Popen([sys.executable, "-m", "mass_mailer", name], env=env, cwd=ROOT,
                                  start_new_session=True) for name in ["scheduler"] + ["worker"] * workers]
        stack.engine.extend(procs)
        stack.wait_ready(workers=workers)
        took, sent = run_job(user, recipients(messages, f"w{workers}-"))
        assert sent == messages, sent
        rates.append(sent / took)
        print(f"   {workers} worker command(s): {rates[-1]:.0f} msg/s", flush=True)
        stack.stop_engine()
    stack.configure(latency_ms=0)
    line("scale-out: two worker commands against one (messages/s, 100 ms Gmail latency, target ratio >= 1.6)",
         rates[1], rates[0])


def throughput(stack: Stack, messages: int, rounds: int, label: str = "") -> float:
    """Alternate rounds of the baseline and the engine (kept running); print the medians; the worker's RSS."""
    # Ten senders at the highest pace allowed: the engine's pacing must not be what limits it here.
    user, senders = make_senders(stack, 10, quota=1_000_000)
    stack.start_engine(SENDER_RATE_PER_MINUTE="10000", WORKER_PROCESSES=PROCESSES, WORKER_THREADS=THREADS,
                       JOB_RATE_LIMIT="1000/minute")
    engine, base, rss = [], [], 0.0
    for round_number in range(rounds):
        base.append(messages / baseline_loop(senders, recipients(messages, f"b{round_number}-")))
        took, sent = run_job(user, recipients(messages, f"e{round_number}-"))
        assert sent == messages, sent
        engine.append(sent / took)
        rss = max(rss, worker_rss_mb())
        print(f"   round {round_number + 1}: engine {engine[-1]:.0f} msg/s, baseline {base[-1]:.0f} msg/s", flush=True)
    stack.stop_engine()
    line(f"engine throughput{label} (messages/s, median, target ratio >= 0.80)", statistics.median(engine),
         statistics.median(base))
    return rss

if __name__ == "__main__":
    main()

"""Footprint: resident memory of every part of the stack, at rest and while a job sends, each beside its budget,
and the whole stack beside 1.5 GB (a 2 vCPU / 4 GB server keeps the rest for the system and the page cache).

Parts: `web` (its whole process tree: the command, Reflex's backend server; the frontend is static files), `worker`
with one worker process (the Dramatiq parent and its worker process), `scheduler`, PostgreSQL (the postmaster and
every backend) and Redis. RSS counts pages shared between forked processes once per process (an upper bound); PSS
shares them out. While sending: a job of a few thousand recipients at full speed, its page open in Chromium.

    python bench/bench_footprint.py [--sending-seconds 25]
"""

from __future__ import annotations

import argparse
import time

import psutil

from sending_stack import Stack, line
from web_stack import (CHROMIUM, CHROMIUM_ARGS, Web, browser_page, engine_processes, make_owner, postgres_processes,
                       pss_mb, rss_mb, session_cookie, start_job, tree)

BUDGETS_MB = {"web": 450.0, "worker (1 process)": 250.0, "scheduler": 150.0, "PostgreSQL": 400.0, "Redis": 50.0}
TOTAL_MB = 1500.0


def parts(stack: Stack, web: Web) -> dict[str, list[psutil.Process]]:
    return {"web": web.processes(), "worker (1 process)": engine_processes(stack, "worker"),
            "scheduler": engine_processes(stack, "scheduler"), "PostgreSQL": postgres_processes(stack),
            "Redis": tree(stack.redis.process.pid)}


def snapshot(stack: Stack, web: Web) -> dict[str, tuple[float, float, int]]:
    """{part: (RSS MB, PSS MB, processes)}"""
    return {name: (rss_mb(procs), pss_mb(procs), len(procs)) for name, procs in parts(stack, web).items()}


def report(label: str, sizes: dict[str, tuple[float, float, int]]) -> None:
    print(f"   {label}: " + ", ".join(f"{name} {rss:.0f} MB RSS / {pss:.0f} MB PSS ({count} processes)"
                                      for name, (rss, pss, count) in sizes.items()), flush=True)
    for name, (rss, _, _) in sizes.items():
        line(f"{label}: {name} RSS (MB, budget {BUDGETS_MB[name]:.0f})", rss, BUDGETS_MB[name], " MB")
    total_rss = sum(rss for rss, _, _ in sizes.values())
    total_pss = sum(pss for _, pss, _ in sizes.values())
    line(f"{label}: whole stack RSS (MB, budget 1.5 GB)", total_rss, TOTAL_MB, " MB")
    line(f"{label}: whole stack PSS (MB, budget 1.5 GB)", total_pss, TOTAL_MB, " MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sending-seconds", type=float, default=25)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    stack = Stack()
    web = None
    try:
        user, _ = make_owner(stack, 4)
        web = Web(stack)
        stack.start_engine(SENDER_RATE_PER_MINUTE="3000", WORKER_PROCESSES=1)
        time.sleep(5)
        report("at rest", snapshot(stack, web))

        job_id = start_job(user, 4000)
        peak: dict[str, tuple[float, float, int]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser_page(browser, web.url, session_cookie(user.id))
            page.goto(f"{web.url}/jobs/{job_id}")
            deadline = time.monotonic() + args.sending_seconds
            while time.monotonic() < deadline:
                for name, sizes in snapshot(stack, web).items():
                    if sizes[0] > peak.get(name, (0.0, 0.0, 0))[0]:
                        peak[name] = sizes
                time.sleep(1)
            browser.close()
        from mass_mailer.db import session_scope
        from mass_mailer.models import EmailJob

        with session_scope() as session:
            sent = session.get(EmailJob, job_id).sent_count
        print(f"   while sending: {sent} sent in {args.sending_seconds:.0f} s (the job page open)", flush=True)
        report("while sending (peak)", peak)
    finally:
        if web is not None:
            web.stop()
        stack.close()


if __name__ == "__main__":
    main()

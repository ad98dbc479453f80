"""Live progress benchmarks, each beside its target measured in the same run.

1. Latency in Chromium: a job sending at a steady pace, its page open in headless Chromium; for each sent recipient,
   the delay from its `settled_at` (PostgreSQL's clock) to the moment the page's "Sent" counter reaches it (a
   MutationObserver in the page records each change of the counter); p50 and p95 against the 1 s target.
2. PostgreSQL cost of 20 job pages open on that running job: CPU time of all PostgreSQL processes over a window with
   20 pages open minus the same window with none, as a share of one core, against the 5 % budget (and the same for
   the web process's own backends alone, told apart by their application_name).
3. Constant time: /status and the job page's data loading for jobs of 10k, 100k and 1M recipients (rows inserted
   directly, mixed outcomes, counters as the engine leaves them), medians; the figure is 1M against 10k.

    python bench/bench_progress.py [--latency-seconds 40] [--window-seconds 15] [--pages 20] [--sizes 10000,...]
                                   [--statements] [--constant-only]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from sending_stack import Stack, line
from web_stack import (CHROMIUM, CHROMIUM_ARGS, WEB_APP_NAME, Web, browser_page, cancel_job, make_owner,
                       measure_cpu, postgres_processes, session_cookie, start_job, tree)

SENDERS, RATE = 3, 110  # 3 senders at 110/min: 5.5 sends a second, out of step with the page's refresh

OBSERVE_SENT = """() => {
    window.__sent = [];
    const box = document.querySelector('[data-testid="sent-count"]');
    const read = () => { const m = box.innerText.match(/\\d+/); return m ? parseInt(m[0]) : -1; };
    window.__sent.push([Date.now(), read()]);
    new MutationObserver(() => window.__sent.push([Date.now(), read()]))
        .observe(box, {subtree: true, childList: true, characterData: true});
}"""


def latency(stack: Stack, web: Web, browser, user, job_id: int, seconds: float) -> list[float]:
    """Delays (s) from each sent recipient's settled_at to the page showing a sent count that includes it."""
    from sqlalchemy import text

    from mass_mailer.db import get_engine

    page = browser_page(browser, web.url, session_cookie(user.id))
    page.goto(f"{web.url}/jobs/{job_id}")
    page.get_by_test_id("sent-count").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.evaluate(OBSERVE_SENT)
    observed_from = time.time()
    page.wait_for_timeout(seconds * 1000)
    changes = page.evaluate("window.__sent")
    page.context.close()
    with get_engine().connect() as conn:
        settled = [row[0].timestamp() for row in conn.execute(text(
            "SELECT settled_at FROM email_recipients WHERE job_id = :j AND status = 'sent' ORDER BY settled_at"),
            {"j": job_id})]
    delays = []
    for count, at in enumerate(settled, start=1):
        if at < observed_from + 0.5 or at > observed_from + seconds - 3:
            continue  # before the observer was in place, or too close to its end to be seen
        shown = next((when / 1000 for when, value in changes if value >= count), None)
        if shown is not None:
            delays.append(shown - at)
    return delays


def pages_cost(stack: Stack, web: Web, browser, user, job_id: int, pages: int, window: float,
               statements: bool = False) -> None:
    """PostgreSQL CPU with `pages` job pages open minus with none, as a share of one core (with `statements`, the
    statements PostgreSQL ran in that window, from pg_stat_statements)."""
    from sqlalchemy import text

    from mass_mailer.db import get_engine

    def web_backends():
        with get_engine().connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                                {"n": WEB_APP_NAME}).scalars().all()
        return [p for pid in pids for p in tree(pid)[:1]]

    def web_tree():
        return web.processes()

    def measure(label: str) -> tuple[float, float, float]:
        import threading

        results = {}
        threads = [threading.Thread(target=lambda k=k, f=f: results.__setitem__(k, measure_cpu(f, window)))
                   for k, f in (("pg", lambda: postgres_processes(stack)), ("pgweb", web_backends),
                                ("web", web_tree))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        share = {k: v / window * 100 for k, v in results.items()}
        print(f"   {label}: PostgreSQL {share['pg']:.1f} % of a core (web's backends {share['pgweb']:.1f} %), "
              f"web process {share['web']:.1f} %", flush=True)
        return share["pg"], share["pgweb"], share["web"]

    none_before = measure("no page open")
    cookie = session_cookie(user.id)
    opened = []
    for _ in range(pages):
        page = browser_page(browser, web.url, cookie)
        page.goto(f"{web.url}/jobs/{job_id}")
        opened.append(page)
    for page in opened:
        page.get_by_test_id("live").wait_for(timeout=60_000)
    time.sleep(2)
    if statements:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_stat_statements_reset()"))
    with_pages = measure(f"{pages} pages open")
    if statements:
        with get_engine().connect() as conn:
            rows = conn.execute(text(
                "SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
                "FROM pg_stat_statements ORDER BY calls DESC LIMIT 15")).all()
        print(f"   statements in the {window:.0f} s window, by calls:")
        for calls, total, query in rows:
            print(f"   {calls:7d} calls {total:8.1f} ms  {query}")
    for page in opened:
        page.context.close()
    time.sleep(2)
    none_after = measure("no page open again")
    idle = [(a + b) / 2 for a, b in zip(none_before, none_after)]
    line(f"PostgreSQL CPU of {pages} open job pages (% of one core, with minus without; budget 5 %)",
         with_pages[0] - idle[0], 5.0, " %")
    line(f"  of which the web process's own backends (% of one core; budget 5 %)",
         with_pages[1] - idle[1], 5.0, " %")
    print(f"   web process CPU with {pages} pages open: {with_pages[2] - idle[2]:.1f} % of one core more than with "
          "none", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Constant time: large jobs inserted directly.

SPACING = 8.64  # seconds between settles: 10,000 a day over the job's 10 senders, whatever the size of the job


def big_job(user_id: int, sender_ids: list[int], size: int) -> int:
    """An in-progress job of `size` recipients: 80 % sent, 5 % failed, 1 % delivery unknown, 14 % pending, spread
    over the senders, settled SPACING s apart up to now (a sender's last 24 h stay within its quota), with the
    counters the engine and the scheduler leave (job row folded, job_sender_counts per sender)."""
    from sqlalchemy import text

    from mass_mailer.db import get_engine

    with get_engine().begin() as conn:
        job_id = conn.execute(text("""
            INSERT INTO email_jobs (user_id, subject, html_content, status, total_recipients, created_at, updated_at,
                                    started_at, sender_ids)
            VALUES (:u, 'Big job', '<p>Hi</p>', 'in_progress', :n, now() - make_interval(secs => :n * :sp),
                    now(), now() - make_interval(secs => :n * :sp), NULL) RETURNING id"""),
            {"u": user_id, "n": size, "sp": SPACING}).scalar_one()
        conn.execute(text("""
            INSERT INTO email_recipients (job_id, email, status, sender_id, attempts, sent_at, settled_at,
                                          error_message, failure_kind)
            SELECT :j, 'r' || i || '.j' || :j || '@example.org', st,
                   CASE WHEN st = 'pending' THEN NULL ELSE (:senders)[1 + i % cardinality(:senders)] END,
                   CASE WHEN st = 'pending' THEN 0 ELSE 1 END,
                   CASE WHEN st = 'sent' THEN ts END, CASE WHEN st <> 'pending' THEN ts END,
                   CASE WHEN st = 'failed' THEN 'Invalid To header' END,
                   CASE WHEN st = 'failed' THEN 'permanent' END
            FROM (SELECT i, now() - make_interval(secs => (:n - i) * :sp) AS ts,
                         CASE WHEN i % 100 < 80 THEN 'sent' WHEN i % 100 < 85 THEN 'failed'
                              WHEN i % 100 < 86 THEN 'delivery_unknown' ELSE 'pending' END AS st
                  FROM generate_series(1, :n) AS i) g"""),
            {"j": job_id, "n": size, "sp": SPACING, "senders": sender_ids})
        # Per-sender counts; the last few settles of each sender not folded yet.
        conn.execute(text("""
            INSERT INTO job_sender_counts (job_id, sender_id, sent, failed, delivery_unknown,
                                           folded_sent, folded_failed, folded_unknown)
            SELECT job_id, sender_id, s, f, u, greatest(0, s - 3), f, u FROM (
                SELECT job_id, sender_id, count(*) FILTER (WHERE status = 'sent') AS s,
                       count(*) FILTER (WHERE status = 'failed') AS f,
                       count(*) FILTER (WHERE status = 'delivery_unknown') AS u
                FROM email_recipients WHERE job_id = :j AND sender_id IS NOT NULL GROUP BY 1, 2) c"""),
            {"j": job_id})
        conn.execute(text("""
            UPDATE email_jobs j SET sent_count = c.fs, failed_count = c.ff, delivery_unknown_count = c.fu
            FROM (SELECT sum(folded_sent) fs, sum(folded_failed) ff, sum(folded_unknown) fu
                  FROM job_sender_counts WHERE job_id = :j) c WHERE j.id = :j"""), {"j": job_id})
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE email_recipients"))
    return job_id


def page_refresh(user_id: int, job_id: int, status_filter: str = "all", search: str = "") -> None:
    """What the job page loads for a refresh (its own data loading), in this process."""
    from mass_mailer.state import job as page

    getattr(page, "_shared", {}).clear()  # what the pages of a job share: each call here loads afresh
    page.load_page_data(user_id=user_id, job_id=job_id, status_filter=status_filter, search=search, page=0,
                        chart=True)


def median_seconds(call, repeat: int = 7) -> float:
    call()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def constant_time(stack: Stack, web: Web, sizes: list[int]) -> None:
    figures: dict[str, dict[int, float]] = {}
    for size in sizes:
        # Senders of its own for each job: their last 24 h (what the quota counts) hold this job's sends only.
        user, sender_ids = make_owner(stack, 10, email=f"big{size}@example.com")
        http = httpx.Client(base_url=web.url, cookies={"mm_token": session_cookie(user.id)}, timeout=120)
        started = time.monotonic()
        job_id = big_job(user.id, sender_ids, size)
        print(f"   {size:,} recipients inserted in {time.monotonic() - started:.0f} s", flush=True)
        answer = http.get(f"/api/email-jobs/{job_id}/status")
        assert answer.status_code == 200, answer.text
        calls = {
            "GET /status": lambda: http.get(f"/api/email-jobs/{job_id}/status").raise_for_status(),
            "job page refresh (all recipients)": lambda: page_refresh(user.id, job_id),
            "job page refresh (failed filter)": lambda: page_refresh(user.id, job_id, "failed"),
        }
        for name, call in calls.items():
            figures.setdefault(name, {})[size] = median_seconds(call)
        print("   " + ", ".join(f"{name} {figures[name][size] * 1000:.1f} ms" for name in calls)
              + f" at {size:,}", flush=True)
    low, high = sizes[0], sizes[-1]
    for name, by_size in figures.items():
        line(f"{name} at {high:,} recipients (ms) vs at {low:,} (target ratio close to 1)",
             by_size[high] * 1000, by_size[low] * 1000, " ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-seconds", type=float, default=40)
    parser.add_argument("--window-seconds", type=float, default=15)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--statements", action="store_true", help="print pg_stat_statements of the pages window")
    parser.add_argument("--constant-only", action="store_true", help="only the constant-time figures")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    stack = Stack()
    web = None
    try:
        if args.statements:
            from profile_engine import enable_pg_stat_statements

            enable_pg_stat_statements(stack)
        user, sender_ids = make_owner(stack, SENDERS)
        web = Web(stack)
        print(f"   web serving after {web.startup_seconds:.0f} s", flush=True)
        if args.constant_only:
            constant_time(stack, web, [int(s) for s in args.sizes.split(",")])
            return
        stack.configure(latency_ms=100)
        stack.start_engine(SENDER_RATE_PER_MINUTE=RATE, WORKER_PROCESSES=1, WORKER_THREADS=4)
        job_id = start_job(user, 2000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            delays = latency(stack, web, browser, user, job_id, args.latency_seconds)
            if len(delays) < 20:
                raise SystemExit(f"too few settles seen: {len(delays)}")
            quantiles = statistics.quantiles(delays, n=100)
            print(f"   {len(delays)} settles seen; max {max(delays):.2f} s", flush=True)
            line("settle to the job page showing it, p50 (s; target 1 s)", quantiles[49], 1.0, " s")
            line("settle to the job page showing it, p95 (s; target 1 s)", quantiles[94], 1.0, " s")
            pages_cost(stack, web, browser, user, job_id, args.pages, args.window_seconds, args.statements)
            browser.close()
        cancel_job(user.id, job_id)
        stack.stop_engine()
        if args.sizes:
            constant_time(stack, web, [int(s) for s in args.sizes.split(",")])
    finally:
        if web is not None:
            web.stop()
        stack.close()


if __name__ == "__main__":
    main()

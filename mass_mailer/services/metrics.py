"""Prometheus metrics. Send outcomes are counted in Redis, so /metrics on any web process shows every worker's
activity without prometheus multiprocess files; job counts and queue depth are read when scraped."""

from __future__ import annotations

import logging
import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from mass_mailer.db import get_engine
from mass_mailer.models import JobStatus
from mass_mailer.redis_client import get_redis
from mass_mailer.services.coordination import Liveness

log = logging.getLogger(__name__)

SENDS_KEY = "mm:metrics:sends"
OUTCOMES = ("sent", "failed", "retried", "delivery_unknown")
QUEUE_KEYS = ("dramatiq:default", "dramatiq:default.DQ")


def record_send(outcome: str) -> None:
    """Count one send outcome (sent, failed, retried or delivery_unknown), all time and in its minute's bucket (as
    the pace script does); metrics never break sending."""
    try:
        minute = f"{SENDS_KEY}:{int(time.time()) // 60}"
        get_redis().pipeline(transaction=False).hincrby(SENDS_KEY, outcome, 1).hincrby(minute, outcome, 1) \
            .expire(minute, 7200).execute()
    except Exception:  # noqa: BLE001 - a lost increment is better than a lost send
        log.debug("could not record a send metric", exc_info=True)


def sends_last_hour() -> dict[str, int]:
    """Send outcomes of the last 60 minutes, from the per-minute buckets."""
    now = int(time.time()) // 60
    pipe = get_redis().pipeline(transaction=False)
    for minute in range(now - 59, now + 1):
        pipe.hgetall(f"{SENDS_KEY}:{minute}")
    totals = dict.fromkeys(OUTCOMES, 0)
    for bucket in pipe.execute():
        for outcome, count in bucket.items():
            totals[outcome] = totals.get(outcome, 0) + int(count)
    return totals


def queue_depth() -> int:
    """Messages waiting in the task queue."""
    redis = get_redis()
    return sum(redis.llen(key) for key in QUEUE_KEYS)


class SendingCollector(Collector):
    """Reads the shared counters, the queue length and the job counts on each scrape."""

    def collect(self):
        redis = get_redis()
        sends = CounterMetricFamily("mass_mailer_sends", "Gmail sends by outcome", labels=["outcome"])
        counts = redis.hgetall(SENDS_KEY)
        for outcome in OUTCOMES:
            sends.add_metric([outcome], float(counts.get(outcome, 0)))
        yield sends
        retries = CounterMetricFamily("mass_mailer_send_retries", "Sends retried after a temporary error")
        retries.add_metric([], float(counts.get("retried", 0)))
        yield retries
        queue = GaugeMetricFamily("mass_mailer_queue_depth", "Messages waiting in the task queue")
        queue.add_metric([], float(queue_depth()))
        yield queue
        alive = Liveness.read()
        workers = GaugeMetricFamily("mass_mailer_worker_processes", "Worker processes alive (by their heartbeats)")
        workers.add_metric([], float(len(alive.workers)))
        yield workers
        schedulers = GaugeMetricFamily("mass_mailer_schedulers", "Scheduler processes alive (by their heartbeats)")
        schedulers.add_metric([], float(len(alive.schedulers)))
        yield schedulers
        jobs = GaugeMetricFamily("mass_mailer_jobs", "Email jobs by status", labels=["status"])
        with get_engine().connect() as conn:
            by_status = dict(conn.execute(text("SELECT status, count(*) FROM email_jobs GROUP BY status")).all())
        for status in JobStatus:
            jobs.add_metric([status.value], float(by_status.get(status.value, 0)))
        yield jobs

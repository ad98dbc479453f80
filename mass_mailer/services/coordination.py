"""The Redis keys the processes coordinate by, in one place, with the small operations on them.

| key | written by | meaning |
|---|---|---|
| `mm:scheduler:wake` | web, batches | a list the scheduler blocks on: act now instead of at the next tick |
| `mm:scheduler:lock` | scheduler | held by the one scheduler that works (the others wait) |
| `mm:live:<job>:<sender>` | planner, batches | a batch is queued ("queued") or running (its worker's id) for the pair |
| `mm:project_paused_until` | batches | Gmail's project-wide daily limit was hit: nothing is sent until it expires |
| `mm:pace:<sender>` | batches | the sender's sliding window of Gmail calls (services/quota.py) |
| `mm:workers` | worker processes | the set of worker process ids that ever registered |
| `mm:worker:<id>` | worker processes | present while that worker process lives (a heartbeat, HEARTBEAT_TTL) |
| `mm:scheduler:alive:<id>` | schedulers | present while that scheduler process lives (a heartbeat, HEARTBEAT_TTL) |
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable

from mass_mailer.redis_client import get_redis

log = logging.getLogger(__name__)

WAKE_KEY = "mm:scheduler:wake"
SCHEDULER_LOCK_KEY = "mm:scheduler:lock"
PROJECT_PAUSE_KEY = "mm:project_paused_until"
WORKERS_KEY = "mm:workers"
LIVE_PREFIX = "mm:live:"
QUEUED = "queued"  # the value of a live key whose batch is queued but not started yet

HEARTBEAT_EVERY = 2.0  # seconds between two heartbeats of a worker process
HEARTBEAT_TTL = 6  # seconds a heartbeat keeps its worker alive
DEAD_AFTER = 5.0  # seconds a registered worker's heartbeat must stay missing before it counts as dead


def live_key(job_id: int, sender_id: int) -> str:
    """Present while some batch is queued or running for this (job, sender) pair."""
    return f"{LIVE_PREFIX}{job_id}:{sender_id}"


def pace_key(sender_id: int) -> str:
    return f"mm:pace:{sender_id}"


def worker_key(worker_id: str) -> str:
    return f"mm:worker:{worker_id}"


def wake_scheduler(job_id: int | None = None) -> None:
    """Tell the scheduler something changed (a job created, paused, resumed...), so it acts now."""
    get_redis().lpush(WAKE_KEY, job_id or 0)


def release_live_keys(job_id: int, sender_ids: Iterable[int] | None = None) -> None:
    """Forget the coverage of a job's pairs (all of them without `sender_ids`), so the planner covers them anew."""
    redis = get_redis()
    keys = ([live_key(job_id, sid) for sid in sender_ids] if sender_ids is not None
            else list(redis.scan_iter(match=f"{LIVE_PREFIX}{job_id}:*", count=500)))
    if keys:
        redis.delete(*keys)


def project_paused() -> bool:
    """True while sending is paused for the whole project."""
    return bool(get_redis().exists(PROJECT_PAUSE_KEY))


SCHEDULER_ALIVE_PREFIX = "mm:scheduler:alive:"


# --- worker processes -------------------------------------------------------------------------------------

_worker_id: str | None = None


def worker_id() -> str:
    """This process's id, as a claimer of recipient rows and in heartbeats: host, pid and a random part (pids are
    reused)."""
    global _worker_id
    if _worker_id is None or not _worker_id.startswith(f"{socket.gethostname()}:{os.getpid()}:"):
        _worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return _worker_id


class Heartbeat:
    """Keeps `mm:worker:<id>` alive while this worker process lives, so that the scheduler notices its death
    within seconds instead of after a lease. Redis being away is ridden out: it beats again once it is back."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mm-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.thread.start()
        return self

    def _run(self) -> None:
        me, failing = worker_id(), False
        while not self.stop.is_set():
            try:
                redis = get_redis()
                redis.set(worker_key(me), int(time.time()), ex=HEARTBEAT_TTL)
                redis.sadd(WORKERS_KEY, me)
                if failing:
                    log.info("worker heartbeat is back")
                failing = False
            except Exception as exc:  # noqa: BLE001 - Redis away: log once, keep trying
                if not failing:
                    log.warning("worker heartbeat failed (%s); retrying", type(exc).__name__)
                failing = True
            self.stop.wait(1.0 if failing else HEARTBEAT_EVERY)

    def close(self) -> None:
        """A clean exit: stop beating and unregister (the worker's sends have settled by then)."""
        self.stop.set()
        try:
            redis = get_redis()
            redis.delete(worker_key(worker_id()))
            redis.srem(WORKERS_KEY, worker_id())
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class WorkerWatch:
    """The scheduler's view of the worker processes: which registered ones have died.

    A worker counts as dead when its heartbeat has been missing for DEAD_AFTER seconds as seen by this watch, so a
    Redis restart (heartbeats lost, workers not yet beating again) is not mistaken for deaths."""

    def __init__(self) -> None:
        self.missing_since: dict[str, float] = {}

    def dead(self) -> list[str]:
        redis = get_redis()
        registered = sorted(redis.smembers(WORKERS_KEY))
        if not registered:
            self.missing_since.clear()
            return []
        alive = redis.mget([worker_key(w) for w in registered])
        now, dead = time.monotonic(), []
        for wid, beat in zip(registered, alive):
            if beat is not None:
                self.missing_since.pop(wid, None)
            elif now - self.missing_since.setdefault(wid, now) >= DEAD_AFTER:
                dead.append(wid)
        return dead

    def forget(self, worker_ids: list[str]) -> None:
        """The dead workers' claims are recovered: unregister them and uncover the pairs their batches held, and the
        pairs whose batch is still marked queued (a dead process may have taken the message without starting it;
        a batch queued twice is harmless, a pair left uncovered until its mark expires is not)."""
        redis = get_redis()
        dead = set(worker_ids) | {QUEUED}
        stale = [key for key in redis.scan_iter(match=f"{LIVE_PREFIX}*", count=1000) if redis.get(key) in dead]
        if stale:
            redis.delete(*stale)
        redis.srem(WORKERS_KEY, *worker_ids)
        for wid in worker_ids:
            self.missing_since.pop(wid, None)


def scheduler_alive_key() -> str:
    return f"{SCHEDULER_ALIVE_PREFIX}{worker_id()}"


def beat_scheduler() -> None:
    """The scheduler is alive (called on every round, at least every SCHEDULER_INTERVAL_SECONDS)."""
    get_redis().set(scheduler_alive_key(), int(time.time()), ex=HEARTBEAT_TTL)


class Liveness:
    """Which processes are alive, from their heartbeats: worker processes and schedulers, all hosts or one."""

    def __init__(self, workers: list[str], schedulers: list[str]) -> None:
        self.workers, self.schedulers = workers, schedulers

    @classmethod
    def read(cls) -> Liveness:
        redis = get_redis()
        registered = sorted(redis.smembers(WORKERS_KEY))
        beats = redis.mget([worker_key(w) for w in registered]) if registered else []
        workers = [w for w, beat in zip(registered, beats) if beat is not None]
        schedulers = [key.removeprefix(SCHEDULER_ALIVE_PREFIX)
                      for key in redis.scan_iter(match=f"{SCHEDULER_ALIVE_PREFIX}*", count=100)]
        return cls(workers, sorted(schedulers))

    def on_host(self, host: str | None = None) -> Liveness:
        prefix = f"{host or socket.gethostname()}:"
        return Liveness([w for w in self.workers if w.startswith(prefix)],
                        [s for s in self.schedulers if s.startswith(prefix)])

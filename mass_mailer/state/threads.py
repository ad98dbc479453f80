"""Work of UI events that must not run on the event loop, which serves every tab and the API of its process.

`off_loop`: parsing, rendering and job creation, two at a time per process (CPU-bound, so more would only queue).
`db_work`: reading and writing PostgreSQL (and Redis: uploads, rate limits) for a page. A query is quick, but one
that waits (a table locked by a migration or a long transaction, PostgreSQL or Redis slow or gone) would stop every other tab, `/api/health` and the API
with it if it ran on the loop; in a worker thread only the event that asked for it waits. The number of threads
stays under the process's connection pool (10 + 10), so a wait for PostgreSQL never becomes a wait for a
connection too.
"""

from __future__ import annotations

from functools import partial

import anyio

from mass_mailer.db import session_scope

_work_limiter: anyio.CapacityLimiter | None = None
_db_limiter: anyio.CapacityLimiter | None = None


async def off_loop(func, /, *args, **kwargs):
    """Run parsing, rendering and job creation in a worker thread (two at a time per process), never on the
    event loop that serves every tab and the API."""
    global _work_limiter
    if _work_limiter is None:
        _work_limiter = anyio.CapacityLimiter(2)
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs), limiter=_work_limiter)


async def db_work(func, /, *args, **kwargs):
    """Run a page's database work in a worker thread (eight at a time per process). `func` may be a state's own
    method: the handler awaiting it holds that state's lock, so nothing else touches the state meanwhile."""
    global _db_limiter
    if _db_limiter is None:
        _db_limiter = anyio.CapacityLimiter(8)
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs), limiter=_db_limiter)


async def in_session(func, /, **kwargs):
    """`func(session=<a new session>, **kwargs)` in one transaction, committed when it returns, in a worker thread
    (`db_work`)."""
    def run():
        with session_scope() as session:
            return func(session=session, **kwargs)

    return await db_work(run)

"""Per-account sending limits (per-minute and rolling 24 h), fault injection and counters."""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict, deque

from mass_mailer.google_emulator.config import EmulatorConfig

MINUTE = 60.0
DAY = 86_400.0

ACCOUNT_COUNTERS = (
    "sent",
    "rejected",
    "rate_limited",
    "daily_limited",
    "faults",
    "rate_violations",
    "daily_violations",
    "refreshes",
)


class Stats:
    """Counters per account; totals are derived from them."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, int]] = {}
        self.requests = 0

    def count(self, email: str, counter: str) -> None:
        counters = self.accounts.get(email)
        if counters is None:
            counters = self.accounts[email] = dict.fromkeys(ACCOUNT_COUNTERS, 0)
        counters[counter] += 1

    def snapshot(self) -> dict:
        """JSON-ready counters, per account and in total (`sent` totals as `total_sent`)."""
        totals = {name: sum(c[name] for c in self.accounts.values()) for name in ACCOUNT_COUNTERS}
        totals["total_sent"] = totals.pop("sent")
        return {"accounts": {email: dict(c) for email, c in self.accounts.items()}, **totals, "requests": self.requests}


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Why a send was refused by a limit, and when the account may send again."""

    kind: str  # "rate" or "daily"
    retry_at: float


def _prune(window: deque, since: float) -> deque:
    while window and window[0] <= since:
        window.popleft()
    return window


class SendLimiter:
    """Sliding windows per account.

    Every call that passes the limits costs per-minute quota, whatever its outcome (as
    Gmail's quota units do); only delivered messages count toward the daily limit.
    """

    def __init__(self) -> None:
        self._calls: defaultdict[str, deque] = defaultdict(deque)
        self._deliveries: defaultdict[str, deque] = defaultdict(deque)

    def admit(self, email: str, now: float, config: EmulatorConfig, stats: Stats) -> Rejection | None:
        """Check and take one send from the account's quota; a violation is a send arriving at the limit."""
        calls = _prune(self._calls[email], now - MINUTE)
        if config.rate_per_minute and len(calls) >= config.rate_per_minute:
            stats.count(email, "rate_violations")
            if config.enforce_limits:
                stats.count(email, "rate_limited")
                return Rejection("rate", calls[0] + MINUTE)
        deliveries = _prune(self._deliveries[email], now - DAY)
        if config.daily_limit and len(deliveries) >= config.daily_limit:
            stats.count(email, "daily_violations")
            if config.enforce_limits:
                stats.count(email, "daily_limited")
                return Rejection("daily", deliveries[0] + DAY)
        calls.append(now)
        return None

    def record_delivery(self, email: str, now: float) -> None:
        self._deliveries[email].append(now)


def draw_fault(rng: random.Random, config: EmulatorConfig) -> int | None:
    """The HTTP status of an injected fault for this send, or None."""
    if not (config.fault_503_rate or config.fault_429_rate):
        return None
    roll = rng.random()
    if roll < config.fault_503_rate:
        return 503
    if roll < config.fault_503_rate + config.fault_429_rate:
        return 429
    return None

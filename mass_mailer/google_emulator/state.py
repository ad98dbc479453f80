"""The emulator's whole state; one event loop owns it, so no locks are needed."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from mass_mailer.google_emulator.accounts import Account, account_for
from mass_mailer.google_emulator.config import EmulatorConfig
from mass_mailer.google_emulator.limits import SendLimiter, Stats
from mass_mailer.google_emulator.mailbox import Mailbox
from mass_mailer.google_emulator.tokens import TokenStore


class Emulator:
    """Settings, accounts, tokens, deliveries and counters of one run."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.initial_config = config
        self.config = config
        self.rng = random.Random(config.seed)
        self.clear()

    def clear(self) -> None:
        """Forget messages, counters, tokens and accounts."""
        self.accounts: dict[str, Account] = {}  # by sub, for the avatar endpoint
        self.tokens = TokenStore()
        self.mailbox = Mailbox(self.config.max_messages)
        self.limiter = SendLimiter()
        self.stats = Stats()

    def now(self) -> float:
        """Wall-clock time moved by `time_offset_seconds`, so tests can jump ahead."""
        return time.time() + self.config.time_offset_seconds

    def account(self, email: str) -> Account:
        """The account for an address, remembered for its avatar."""
        account = account_for(email)
        self.accounts[account.sub] = account
        return account

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply validated changes (raises ConfigError)."""
        self.config = self.config.updated(changes)
        if "seed" in changes:
            self.rng.seed(self.config.seed)
        self.mailbox.resize(self.config.max_messages)

    def reset(self, *, config: bool = False) -> None:
        """Clear everything; with `config`, also go back to the settings the run started with."""
        if config:
            self.config = self.initial_config
            self.rng.seed(self.config.seed)
        self.clear()

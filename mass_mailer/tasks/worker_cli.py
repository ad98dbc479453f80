"""Dramatiq's command line with this application's logging (LOG_FORMAT, secrets redacted) in its main process.

`python -m mass_mailer worker` runs this with `--skip-logging`, so that Dramatiq installs no handler of its own:
its main process logs through ours, and each worker process sets ours up on boot (tasks/broker.py).
"""

from __future__ import annotations

import sys

from dramatiq.cli import main as dramatiq_main

from mass_mailer.logging_config import configure_from_settings

if __name__ == "__main__":
    configure_from_settings()
    sys.exit(dramatiq_main())

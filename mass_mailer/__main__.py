"""The command line: `python -m mass_mailer up|services|migrate|web|worker|scheduler|emulator|...`."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from mass_mailer import commands
from mass_mailer.logging_config import configure_logging
from mass_mailer.settings import SettingsError, get_settings


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mass_mailer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in commands.COMMANDS.items():
        command = sub.add_parser(name, help=(func.__doc__ or "").strip().splitlines()[0])
        if name == "health":
            command.add_argument("role", choices=("web", "worker", "scheduler"))
    args = parser.parse_args(argv)
    options = {"role": args.role} if args.command == "health" else {}
    try:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)
        return commands.COMMANDS[args.command](**options) or 0
    except SettingsError as exc:
        print(f"mass_mailer {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"mass_mailer {args.command}: invalid configuration: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

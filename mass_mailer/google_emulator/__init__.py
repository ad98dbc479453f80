"""A local stand-in for Google's OAuth 2.0 and Gmail endpoints, spoken on the real wire protocol."""

from mass_mailer.google_emulator.app import EmulatorApp, create_app
from mass_mailer.google_emulator.config import ConfigError, EmulatorConfig
from mass_mailer.google_emulator.server import EmulatorServer, main

__all__ = ["ConfigError", "EmulatorApp", "EmulatorConfig", "EmulatorServer", "create_app", "main"]

"""Emulator settings: defaults, validation, and reading them from EMULATOR_* variables."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from mass_mailer.google_emulator.accounts import is_email
from mass_mailer.google_emulator.scopes import normalise_scopes


class ConfigError(ValueError):
    """A setting has an unknown name or an unusable value."""


def _number(value: Any, kind: type, minimum: float | None = None, maximum: float | None = None) -> Any:
    """Coerce a JSON or environment value to int/float within bounds."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"expected a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a number, got {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise ConfigError(f"expected a whole number, got {value!r}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ConfigError(f"{value!r} is out of range")
    return number


def _limit(value: Any) -> int:
    """A limit where null or 0 means unlimited."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return 0
    return _number(value, int, minimum=0)


def _fraction(value: Any) -> float:
    return _number(value, float, minimum=0.0, maximum=1.0)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _seed(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return _number(value, int)


def _scope_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value.strip()) if value.strip() else []
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
        raise ConfigError(f"expected a list of scopes, got {value!r}")
    return tuple(sorted(normalise_scopes(value)))


def _clients(value: Any) -> dict[str, dict]:
    """Strict OAuth clients: {client_id: {"secret": str, "redirect_uris": [str, ...]}}."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"clients is not valid JSON: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("clients must be an object keyed by client_id")
    clients = {}
    for client_id, spec in value.items():
        secret = spec.get("secret") if isinstance(spec, Mapping) else None
        uris = spec.get("redirect_uris") if isinstance(spec, Mapping) else None
        if not isinstance(secret, str) or not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise ConfigError(f"client {client_id!r} needs a string 'secret' and a list 'redirect_uris'")
        clients[str(client_id)] = {"secret": secret, "redirect_uris": list(uris)}
    return clients


def _email_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value.strip()) if value.strip() else []
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"expected a list of email addresses, got {value!r}")
    return tuple(sorted({_email(v) for v in value}))


def _email(value: Any) -> str:
    if not isinstance(value, str) or not is_email(value.strip()):
        raise ConfigError(f"expected an email address, got {value!r}")
    return value.strip().lower()


_COERCE = {
    "latency_ms": lambda v: _number(v, float, minimum=0.0, maximum=600_000.0),
    "rate_per_minute": _limit,
    "daily_limit": _limit,
    "fault_503_rate": _fraction,
    "fault_429_rate": _fraction,
    "seed": _seed,
    "access_token_ttl": lambda v: _number(v, int, minimum=1),
    "time_offset_seconds": lambda v: _number(v, float),
    "drop_scopes": _scope_list,
    "deny_consent": _bool,
    "clients": _clients,
    "default_account": _email,
    "enforce_limits": _bool,
    "max_messages": lambda v: _number(v, int, minimum=1),
    "reject_recipients": _email_list,
}


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """Every runtime setting of the emulator; 0 disables a limit."""

    latency_ms: float = 0.0
    rate_per_minute: int = 0
    daily_limit: int = 0
    fault_503_rate: float = 0.0
    fault_429_rate: float = 0.0
    seed: int | None = None
    access_token_ttl: int = 3599
    time_offset_seconds: float = 0.0
    drop_scopes: tuple[str, ...] = ()
    deny_consent: bool = False
    clients: dict[str, dict] = dataclasses.field(default_factory=dict)
    default_account: str = "demo@example.com"
    # False: over-limit sends are still delivered but counted as violations,
    # so a harness can see whether the client itself keeps the limits.
    enforce_limits: bool = True
    max_messages: int = 10_000
    # Addresses Gmail refuses as recipients (400 invalidArgument "Invalid To header"), as it does for addresses
    # that look valid but that it will not take: a permanent error for that recipient.
    reject_recipients: tuple[str, ...] = ()

    def updated(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """Return a copy with `changes` validated and applied."""
        unknown = sorted(set(changes) - set(_COERCE))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        values = {}
        for name, value in changes.items():
            try:
                values[name] = _COERCE[name](value)
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        new = dataclasses.replace(self, **values)
        if new.fault_503_rate + new.fault_429_rate > 1.0:
            raise ConfigError("fault_503_rate + fault_429_rate must not exceed 1")
        return new

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view of the settings."""
        data = dataclasses.asdict(self)
        data["drop_scopes"] = list(self.drop_scopes)
        data["reject_recipients"] = list(self.reject_recipients)
        return data


def config_from_env(environ: Mapping[str, str]) -> EmulatorConfig:
    """Build a config from EMULATOR_<SETTING> variables (e.g. EMULATOR_LATENCY_MS)."""
    changes = {name: environ[f"EMULATOR_{name.upper()}"] for name in _COERCE if f"EMULATOR_{name.upper()}" in environ}
    return EmulatorConfig().updated(changes)

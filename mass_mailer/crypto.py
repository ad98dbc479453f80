"""Encryption of OAuth tokens at rest with MultiFernet (first key encrypts, every key decrypts).

A process that keeps running while TOKEN_ENCRYPTION_KEYS changes in `.env` (rotation) picks the new keys up by
itself: before encrypting (at most every RELOAD_SECONDS) and when a token does not decrypt with the keys it holds.
Keys given as environment variables cannot change under a running process: restart it after changing them.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mass_mailer.settings import Settings, get_settings

RELOAD_SECONDS = 30.0
_lock = threading.Lock()
_reloaded: dict[str, object] = {"keys": None, "at": time.monotonic()}


class TokenDecryptionError(RuntimeError):
    """A stored token cannot be decrypted with any configured key."""


def _keys() -> list[str]:
    return _reloaded["keys"] or get_settings().fernet_keys  # type: ignore[return-value]


@lru_cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(_keys()))


def reset_keys() -> None:
    """Forget the cached keys (after the settings changed)."""
    with _lock:
        _reloaded.update(keys=None, at=time.monotonic())
    _fernet_for.cache_clear()


def reload_keys(*, force: bool = False) -> bool:
    """Read TOKEN_ENCRYPTION_KEYS again as the environment and `.env` give them now (at most every RELOAD_SECONDS
    unless forced); True when they changed."""
    with _lock:
        if not force and time.monotonic() - _reloaded["at"] < RELOAD_SECONDS:  # type: ignore[operator]
            return False
        _reloaded["at"] = time.monotonic()
        try:
            fresh = Settings().fernet_keys
            _fernet_for(tuple(fresh))  # every key must be a valid Fernet key
        except Exception:  # noqa: BLE001 - a half-edited .env: keep the keys in use
            return False
        if fresh == _keys():
            return False
        _reloaded["keys"] = fresh
        return True


def encrypt(plaintext: str | None) -> str | None:
    """Encrypt a token with the first key."""
    if plaintext is None:
        return None
    reload_keys()
    return _fernet().encrypt(plaintext.encode()).decode()


def _with_current_keys(operation):
    try:
        return operation(_fernet())
    except InvalidToken:
        if reload_keys(force=True):
            try:
                return operation(_fernet())
            except InvalidToken:
                pass
    raise TokenDecryptionError("a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from None


def decrypt(ciphertext: str | None) -> str | None:
    """Decrypt a token with whichever configured key made it."""
    if ciphertext is None:
        return None
    return _with_current_keys(lambda fernet: fernet.decrypt(ciphertext.encode()).decode())


def rotate(ciphertext: str | None) -> str | None:
    """Re-encrypt a token with the first key."""
    if ciphertext is None:
        return None
    return _with_current_keys(lambda fernet: fernet.rotate(ciphertext.encode()).decode())

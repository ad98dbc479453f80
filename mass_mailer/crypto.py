"""Encryption of OAuth tokens at rest with MultiFernet (first key encrypts, every key decrypts)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mass_mailer.settings import get_settings


class TokenDecryptionError(RuntimeError):
    """A stored token cannot be decrypted with any configured key."""


@lru_cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in get_settings().fernet_keys])


def reset_keys() -> None:
    """Forget the cached keys (after the settings changed)."""
    _fernet.cache_clear()


def encrypt(plaintext: str | None) -> str | None:
    """Encrypt a token with the first key."""
    if plaintext is None:
        return None
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str | None) -> str | None:
    """Decrypt a token with whichever configured key made it."""
    if ciphertext is None:
        return None
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError("a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from None


def rotate(ciphertext: str | None) -> str | None:
    """Re-encrypt a token with the first key."""
    if ciphertext is None:
        return None
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError("a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from None

"""Emulated Google accounts: a stable identity derived from the email address."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re

from mass_mailer.google_emulator.scopes import EMAIL, PROFILE

EMAIL_PATTERN = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+")


@dataclasses.dataclass(frozen=True)
class Account:
    """One Google account as the emulator presents it."""

    email: str
    sub: str
    given_name: str
    family_name: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def picture_url(self, base_url: str) -> str:
        return f"{base_url}/_emulator/avatar/{self.sub}.svg"

    def userinfo(self, scopes: frozenset[str], base_url: str, *, legacy: bool = False) -> dict:
        """Userinfo as v3/OpenID (`legacy=False`) or v2 shape, limited to what `scopes` allow."""
        info: dict = {"id" if legacy else "sub": self.sub}
        if EMAIL in scopes:
            info["email"] = self.email
            info["verified_email" if legacy else "email_verified"] = True
        if PROFILE in scopes:
            info["name"] = self.name
            info["given_name"] = self.given_name
            # Google leaves out a family name the account does not have.
            if self.family_name:
                info["family_name"] = self.family_name
            info["picture"] = self.picture_url(base_url)
        return info

    def avatar_svg(self) -> str:
        """A coloured circle with the account's initials."""
        initials = html.escape((self.given_name[:1] + self.family_name[:1]).upper() or "?")
        hue = int(self.sub[-3:]) % 360
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
            f'<circle cx="48" cy="48" r="48" fill="hsl({hue},55%,45%)"/>'
            '<text x="48" y="60" font-family="sans-serif" font-size="36" fill="#fff" '
            f'text-anchor="middle">{initials}</text></svg>'
        )


def account_for(email: str) -> Account:
    """Derive a stable account (numeric sub, names from the local part) from an address."""
    email = email.strip().lower()
    digest = hashlib.sha256(email.encode()).digest()
    sub = "1" + str(int.from_bytes(digest[:9], "big")).zfill(20)[:20]
    local = email.split("@", 1)[0].split("+", 1)[0]
    words = [w.capitalize() for w in re.split(r"[._\-]+", local) if w]
    return Account(email=email, sub=sub, given_name=words[0] if words else local, family_name=" ".join(words[1:]))


def is_email(value: str) -> bool:
    """True when `value` looks like a deliverable address."""
    return bool(EMAIL_PATTERN.fullmatch(value))

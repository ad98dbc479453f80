"""Authorization codes, grants, access and refresh tokens, and their revocation."""

from __future__ import annotations

import dataclasses
import secrets

from mass_mailer.google_emulator.accounts import Account

CODE_TTL = 600.0  # Google's codes live about ten minutes
_SWEEP_EVERY = 1024  # issues between purges of expired entries


@dataclasses.dataclass(eq=False)
class Grant:
    """One consent given by an account to a client; its tokens live and die together."""

    client_id: str
    account: Account
    scopes: frozenset[str]
    refresh_token: str | None
    access_tokens: set[str] = dataclasses.field(default_factory=set)
    revoked: bool = False


@dataclasses.dataclass(eq=False)
class AccessToken:
    """A bearer token for the Gmail and userinfo endpoints."""

    token: str
    grant: Grant
    scopes: frozenset[str]
    expires_at: float


@dataclasses.dataclass(eq=False)
class AuthCode:
    """What the authorization endpoint promised, waiting for the token exchange."""

    code: str
    client_id: str
    redirect_uri: str
    account: Account
    scopes: frozenset[str]
    code_challenge: str
    with_refresh_token: bool
    expires_at: float
    grant: Grant | None = None  # set once redeemed, so a replay can revoke it


class TokenStore:
    """All OAuth state of one emulator run."""

    def __init__(self) -> None:
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, Grant] = {}
        self.grants: set[Grant] = set()
        # (client_id, email) -> scopes granted so far, for first-consent and include_granted_scopes.
        self.consents: dict[tuple[str, str], frozenset[str]] = {}
        self.offline_consents: set[tuple[str, str]] = set()  # pairs that were given a refresh token
        # client_id -> the secret it first authenticated with at the token endpoint.
        self.client_secrets: dict[str, str] = {}
        self._issued = 0

    def new_code(self, **fields) -> AuthCode:
        """Store a fresh single-use authorization code."""
        code = AuthCode(code="4/0" + secrets.token_urlsafe(32), **fields)
        self.codes[code.code] = code
        return code

    def new_grant(self, client_id: str, account: Account, scopes: frozenset[str], *, offline: bool) -> Grant:
        """Record a grant, with a refresh token when `offline`."""
        refresh_token = "1//0" + secrets.token_urlsafe(48) if offline else None
        grant = Grant(client_id=client_id, account=account, scopes=scopes, refresh_token=refresh_token)
        self.grants.add(grant)
        if refresh_token:
            self.refresh[refresh_token] = grant
        return grant

    def issue_access_token(self, grant: Grant, scopes: frozenset[str], *, now: float, ttl: int) -> AccessToken:
        """Mint an access token for `grant` limited to `scopes`."""
        self._issued += 1
        if self._issued % _SWEEP_EVERY == 0:
            self._sweep(now)
        token = AccessToken(token="ya29." + secrets.token_urlsafe(64), grant=grant, scopes=scopes, expires_at=now + ttl)
        self.access[token.token] = token
        grant.access_tokens.add(token.token)
        return token

    def valid_access_token(self, token: str, now: float) -> AccessToken | None:
        """The live access token for `token`, or None when unknown, expired or revoked."""
        found = self.access.get(token)
        if found is None or found.grant.revoked or found.expires_at <= now:
            return None
        return found

    def revoke(self, token: str) -> bool:
        """Revoke the grant behind an access or refresh token, as Google does; False if unknown."""
        grant = self.refresh.get(token)
        if grant is None and token in self.access:
            grant = self.access[token].grant
        if grant is None:
            return False
        self.revoke_grant(grant)
        return True

    def revoke_account(self, email: str) -> int:
        """Revoke every grant of an account; returns how many there were."""
        grants = [g for g in self.grants if g.account.email == email]
        for grant in grants:
            self.revoke_grant(grant)
        return len(grants)

    def revoke_grant(self, grant: Grant) -> None:
        """Revoke a grant with its refresh and access tokens."""
        grant.revoked = True
        self.grants.discard(grant)
        if grant.refresh_token:
            self.refresh.pop(grant.refresh_token, None)
        for token in grant.access_tokens:
            self.access.pop(token, None)
        grant.access_tokens.clear()
        # Revoking removes the app's access entirely: the next sign-in is a first consent again.
        self.consents.pop((grant.client_id, grant.account.email), None)
        self.offline_consents.discard((grant.client_id, grant.account.email))

    def _sweep(self, now: float) -> None:
        """Forget expired codes and access tokens so long runs stay small."""
        for code in [c for c in self.codes.values() if c.expires_at <= now]:
            del self.codes[code.code]
        for token in [t for t in self.access.values() if t.expires_at <= now]:
            del self.access[token.token]
            token.grant.access_tokens.discard(token.token)
        self.grants -= {g for g in self.grants if g.refresh_token is None and not g.access_tokens}

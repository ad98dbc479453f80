"""The emulator's own endpoints under /_emulator: settings, inspection, shortcuts."""

from __future__ import annotations

from mass_mailer.google_emulator.accounts import is_email
from mass_mailer.google_emulator.config import ConfigError
from mass_mailer.google_emulator.oauth import client_problem
from mass_mailer.google_emulator.scopes import DEFAULT_ISSUED_SCOPES, normalise_scopes
from mass_mailer.google_emulator.state import Emulator
from mass_mailer.google_emulator.wire import Request, Response, json_response

DEFAULT_CLIENT_ID = "emulator-client"


def _bad_request(message: str) -> Response:
    return json_response({"error": message}, 400)


def _json_object(req: Request) -> dict | None:
    """The body as a JSON object ({} when empty), or None when it is something else."""
    try:
        data = req.json() if req.body.strip() else {}
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _email_field(data: dict | None) -> str | None:
    email = data.get("email") if data else None
    return email.strip().lower() if isinstance(email, str) and is_email(email.strip()) else None


async def health(emu: Emulator, req: Request) -> Response:
    return json_response({"status": "ok"})


async def get_config(emu: Emulator, req: Request) -> Response:
    return json_response(emu.config.as_dict())


async def set_config(emu: Emulator, req: Request) -> Response:
    """Merge a JSON object of settings into the current ones."""
    changes = _json_object(req)
    if changes is None:
        return _bad_request("expected a JSON object of settings")
    try:
        emu.configure(changes)
    except ConfigError as exc:
        return _bad_request(str(exc))
    return json_response(emu.config.as_dict())


async def messages(emu: Emulator, req: Request) -> Response:
    """Delivered messages, filtered by `to`, `account` and `limit`."""
    query = req.query
    limit = query.get("limit")
    if limit is not None and not limit.isdigit():
        return _bad_request("limit must be a non-negative integer")
    found = emu.mailbox.find(to=query.get("to"), account=query.get("account"), limit=int(limit) if limit else None)
    return json_response({"messages": found})


async def stats(emu: Emulator, req: Request) -> Response:
    duplicates = emu.mailbox.duplicates()
    extra = sum(count - 1 for subjects in duplicates.values() for count in subjects.values())
    return json_response({**emu.stats.snapshot(), "duplicates": duplicates, "duplicate_deliveries": extra})


async def reset(emu: Emulator, req: Request) -> Response:
    """Clear state; `{"config": true}` also restores the starting settings."""
    data = _json_object(req)
    if data is None:
        return _bad_request("expected a JSON object")
    emu.reset(config=data.get("config") is True)
    return json_response({"status": "reset"})


async def revoke_account(emu: Emulator, req: Request) -> Response:
    """Revoke every token of `{"email": ...}`, as if the user removed the app's access."""
    email = _email_field(_json_object(req))
    if email is None:
        return _bad_request('expected {"email": "<address>"}')
    return json_response({"email": email, "revoked": emu.tokens.revoke_account(email)})


async def issue_tokens(emu: Emulator, req: Request) -> Response:
    """Mint tokens for an account without a browser flow: `{"email", "scopes"?, "client_id"?, "client_secret"?}`."""
    data = _json_object(req)
    email = _email_field(data)
    if email is None:
        return _bad_request('expected {"email": "<address>", ...}')
    scopes = data.get("scopes") or DEFAULT_ISSUED_SCOPES
    client_id, secret = data.get("client_id") or DEFAULT_CLIENT_ID, data.get("client_secret")
    if (
        not isinstance(scopes, list | tuple | str)
        or not isinstance(client_id, str)
        or not isinstance(secret, str | None)
    ):
        return _bad_request("scopes must be a list, client_id and client_secret strings")
    if secret is not None:
        problem = client_problem(emu, client_id, secret)
        if problem:
            return problem
        emu.tokens.client_secrets.setdefault(client_id, secret)
    scopes = normalise_scopes(scopes)
    account = emu.account(email)
    grant = emu.tokens.new_grant(client_id, account, scopes, offline=True)
    ttl = emu.config.access_token_ttl
    access = emu.tokens.issue_access_token(grant, scopes, now=emu.now(), ttl=ttl)
    return json_response(
        {
            "access_token": access.token,
            "refresh_token": grant.refresh_token,
            "expires_in": ttl,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
            "client_id": client_id,
        }
    )


async def avatar(emu: Emulator, req: Request, sub: str) -> Response:
    account = emu.accounts.get(sub)
    if account is None:
        return json_response({"error": "unknown account"}, 404)
    headers = [("content-type", "image/svg+xml"), ("cache-control", "max-age=86400")]
    return Response(200, account.avatar_svg().encode(), headers)

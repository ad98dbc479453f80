"""OAuth 2.0 endpoints: authorization (auto-consent), token, userinfo and revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from urllib.parse import urlencode, urlsplit

from mass_mailer.google_emulator.accounts import Account, is_email
from mass_mailer.google_emulator.scopes import EMAIL, IDENTITY_SCOPES, PROFILE, normalise_scopes
from mass_mailer.google_emulator.state import Emulator
from mass_mailer.google_emulator.tokens import CODE_TTL, Grant
from mass_mailer.google_emulator.wire import Request, Response, json_response, oauth_error

_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_NO_STORE = [("cache-control", "no-store"), ("pragma", "no-cache")]
REVOKED = "Token has been expired or revoked."


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _error_page(req: Request, status: int, error: str, description: str) -> Response:
    """Google shows an error page (no redirect) when the client or redirect URI is wrong."""
    if "application/json" in req.headers.get("accept", ""):
        return oauth_error(status, error, description)
    page = (
        f"<!doctype html><html><head><title>Error {status}: {error}</title></head><body>"
        "<h1>Access blocked: Authorization Error</h1>"
        f"<p>{html.escape(description)}</p><p><b>Error {status}: {error}</b></p></body></html>"
    )
    return Response(status, page.encode(), [("content-type", "text/html; charset=utf-8")])


def _redirect(redirect_uri: str, **params: str | None) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    location = redirect_uri + ("&" if "?" in redirect_uri else "?") + query
    return Response(302, b"", [("location", location), ("content-length", "0")])


def _valid_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def _request_problem(query: dict[str, str]) -> tuple[str, str] | None:
    """(error, description) for a malformed authorization request, or None."""
    response_type = query.get("response_type", "")
    if response_type != "code":
        return "unsupported_response_type", f"Invalid response_type: {response_type}"
    for name in ("scope", "code_challenge", "code_challenge_method"):
        if not query.get(name):
            return "invalid_request", f"Missing required parameter: {name}"
    if query["code_challenge_method"] != "S256":
        return "invalid_request", f"Invalid code_challenge_method: {query['code_challenge_method']}"
    if not _CHALLENGE.fullmatch(query["code_challenge"]):
        return "invalid_request", "Invalid code_challenge"
    return None


def _signed_in(emu: Emulator, login_hint: str | None) -> Account:
    """The account that consents: `login_hint` (an email or a known sub), else the default account."""
    hint = (login_hint or "").strip()
    if hint in emu.accounts:
        return emu.accounts[hint]
    return emu.account(hint if is_email(hint) else emu.config.default_account)


async def authorize(emu: Emulator, req: Request) -> Response:
    """Check the request, consent on the user's behalf and redirect back with a code."""
    query, config = req.query, emu.config
    client_id = query.get("client_id", "")
    if not client_id:
        return _error_page(req, 400, "invalid_request", "Missing required parameter: client_id")
    client = config.clients.get(client_id)
    if config.clients and client is None:
        return _error_page(req, 401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri:
        return _error_page(req, 400, "invalid_request", "Missing required parameter: redirect_uri")
    if not _valid_redirect_uri(redirect_uri) or (client and redirect_uri not in client["redirect_uris"]):
        description = f"This app's request is invalid: redirect_uri={redirect_uri} is not registered."
        return _error_page(req, 400, "redirect_uri_mismatch", description)
    problem = _request_problem(query)
    if problem:
        return _error_page(req, 400, *problem)

    state = query.get("state")
    granted = normalise_scopes(query["scope"]) - set(config.drop_scopes)
    if config.deny_consent or not granted:
        return _redirect(redirect_uri, error="access_denied", state=state)
    account = _signed_in(emu, query.get("login_hint"))
    key = (client_id, account.email)
    previous = emu.tokens.consents.get(key)
    if previous and query.get("include_granted_scopes") == "true":
        granted |= previous
    emu.tokens.consents[key] = granted | (previous or frozenset())
    # Google issues a refresh token the first time offline access is granted, or with prompt=consent.
    with_refresh = query.get("access_type") == "offline" and (
        key not in emu.tokens.offline_consents or "consent" in query.get("prompt", "").split()
    )
    if with_refresh:
        emu.tokens.offline_consents.add(key)
    code = emu.tokens.new_code(
        client_id=client_id,
        redirect_uri=redirect_uri,
        account=account,
        scopes=granted,
        code_challenge=query["code_challenge"],
        with_refresh_token=with_refresh,
        expires_at=emu.now() + CODE_TTL,
    )
    scope = " ".join(sorted(granted))
    return _redirect(redirect_uri, state=state, code=code.code, scope=scope, authuser="0", prompt="consent")


def client_problem(emu: Emulator, client_id: str, secret: str) -> Response | None:
    """Authenticate the client: strict clients from config, else the first secret seen binds."""
    if emu.config.clients:
        client = emu.config.clients.get(client_id)
        if client is None:
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        expected = client["secret"]
    else:
        expected = emu.tokens.client_secrets.get(client_id, secret)
    if not hmac.compare_digest(expected.encode(), secret.encode()):
        return oauth_error(401, "invalid_client", "Unauthorized")
    return None


def id_token(account: Account, client_id: str, scopes: frozenset[str], *, now: float, key: str, base_url: str) -> str:
    """An HS256 OpenID id_token signed with the client secret (OpenID Connect's rule for HS256)."""
    claims: dict = {"iss": "https://accounts.google.com", "azp": client_id, "aud": client_id, "sub": account.sub}
    if EMAIL in scopes:
        claims.update(email=account.email, email_verified=True)
    if PROFILE in scopes:
        claims.update(name=account.name, picture=account.picture_url(base_url), given_name=account.given_name)
        if account.family_name:
            claims["family_name"] = account.family_name
    claims.update(iat=int(now), exp=int(now) + 3599)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = header + "." + _b64url(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def _token_reply(
    emu: Emulator, req: Request, grant: Grant, scopes: frozenset[str], secret: str, *, new_grant: bool
) -> Response:
    now, ttl = emu.now(), emu.config.access_token_ttl
    access = emu.tokens.issue_access_token(grant, scopes, now=now, ttl=ttl)
    body: dict = {"access_token": access.token, "expires_in": ttl}
    if grant.refresh_token and new_grant:
        body["refresh_token"] = grant.refresh_token
    body.update(scope=" ".join(sorted(scopes)), token_type="Bearer")
    if scopes & IDENTITY_SCOPES:
        body["id_token"] = id_token(grant.account, grant.client_id, scopes, now=now, key=secret, base_url=req.base_url)
    return json_response(body, headers=_NO_STORE)


def _exchange_code(emu: Emulator, req: Request, form: dict[str, str], client_id: str, secret: str) -> Response:
    if not form.get("code"):
        return oauth_error(400, "invalid_request", "Missing required parameter: code")
    code = emu.tokens.codes.get(form["code"])
    if code is None or code.expires_at <= emu.now() or code.client_id != client_id:
        return oauth_error(400, "invalid_grant", "Malformed auth code.")
    if code.grant is not None:
        # A replayed code may have been stolen: revoke what it already produced.
        emu.tokens.revoke_grant(code.grant)
        return oauth_error(400, "invalid_grant", "Bad Request")
    if form.get("redirect_uri") != code.redirect_uri:
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
    verifier = form.get("code_verifier")
    if not verifier:
        return oauth_error(400, "invalid_grant", "Missing code verifier.")
    if not hmac.compare_digest(_b64url(hashlib.sha256(verifier.encode()).digest()), code.code_challenge):
        return oauth_error(400, "invalid_grant", "Invalid code verifier.")
    code.grant = emu.tokens.new_grant(client_id, code.account, code.scopes, offline=code.with_refresh_token)
    return _token_reply(emu, req, code.grant, code.scopes, secret, new_grant=True)


def _refresh(emu: Emulator, req: Request, form: dict[str, str], client_id: str, secret: str) -> Response:
    if not form.get("refresh_token"):
        return oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
    grant = emu.tokens.refresh.get(form["refresh_token"])
    if grant is None:
        return oauth_error(400, "invalid_grant", REVOKED)
    if grant.client_id != client_id:
        return oauth_error(401, "unauthorized_client", "Unauthorized")
    scopes = grant.scopes
    if form.get("scope"):
        scopes = normalise_scopes(form["scope"])
        invalid = scopes - grant.scopes
        if invalid:
            return oauth_error(
                400, "invalid_scope", f"Some requested scopes were invalid. {{invalid={sorted(invalid)}}}"
            )
    emu.stats.count(grant.account.email, "refreshes")
    return _token_reply(emu, req, grant, scopes, secret, new_grant=False)


async def token(emu: Emulator, req: Request) -> Response:
    """The token endpoint: authorization_code (PKCE) and refresh_token grants."""
    form = req.form()
    client_id, secret = req.basic_auth() or (form.get("client_id", ""), form.get("client_secret", ""))
    if not client_id:
        return oauth_error(400, "invalid_request", "Could not determine client ID from request.")
    grant_type = form.get("grant_type", "")
    exchange = {"authorization_code": _exchange_code, "refresh_token": _refresh}.get(grant_type)
    if exchange is None:
        return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    if not secret:
        return oauth_error(400, "invalid_request", "client_secret is missing.")
    problem = client_problem(emu, client_id, secret)
    if problem:
        return problem
    response = exchange(emu, req, form, client_id, secret)
    if response.status == 200:
        emu.tokens.client_secrets.setdefault(client_id, secret)
    return response


async def userinfo(emu: Emulator, req: Request, *, legacy: bool = False) -> Response:
    """The signed-in account's profile, as far as the token's scopes allow."""
    token = req.bearer_token() or req.query.get("access_token")
    access = emu.tokens.valid_access_token(token, emu.now()) if token else None
    if access is None:
        response = oauth_error(401, "invalid_request", "Invalid Credentials")
        response.headers.append(
            ("www-authenticate", 'Bearer realm="https://accounts.google.com/", error="invalid_token"')
        )
        return response
    return json_response(access.grant.account.userinfo(access.scopes, req.base_url, legacy=legacy))


async def userinfo_v2(emu: Emulator, req: Request) -> Response:
    """The older v2 userinfo shape (`id`, `verified_email`)."""
    return await userinfo(emu, req, legacy=True)


async def revoke(emu: Emulator, req: Request) -> Response:
    """Revoke the grant behind an access or refresh token."""
    token = req.form().get("token") or req.query.get("token")
    if not token or not emu.tokens.revoke(token):
        return oauth_error(400, "invalid_token", "Bad Request")
    return json_response({})

"""Sign-in with Google, the OAuth callback, the session and one's own profile."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from mass_mailer.api import security
from mass_mailer.api.deps import CurrentUser, SessionDep, request_token
from mass_mailer.api.fields import Text
from mass_mailer.errors import DomainError
from mass_mailer import routes
from mass_mailer.services import auth, oauth_flows, ratelimit, users
from mass_mailer.settings import get_settings

router = APIRouter(prefix="/api/auth", tags=["auth"])

LoginHint = Annotated[str | None, Query(max_length=320)]
NextPath = Annotated[str | None, Query(alias="next", max_length=2000)]


class SignInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    login_hint: str | None = Field(None, max_length=320)
    next_path: str | None = Field(None, alias="next", max_length=2000)


class AuthorizationUrl(BaseModel):
    url: str


class Me(BaseModel):
    id: int
    email: str
    name: str | None
    picture: str | None
    role: str


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)


def _limit_by_ip(request: Request) -> None:
    ratelimit.check("auth", security.client_ip(request), get_settings().auth_rate_limit)


@router.post("/google")
def start_sign_in(request: Request, response: Response, login_hint: LoginHint = None,
                  body: Annotated[SignInRequest | None, Body()] = None) -> AuthorizationUrl:
    """The Google authorization URL to sign in with; keep the cookie this sets for the callback."""
    _limit_by_ip(request)
    body = body or SignInRequest()
    flow = oauth_flows.start(oauth_flows.SIGNIN, browser=False, login_hint=body.login_hint or login_hint,
                             next_path=body.next_path)
    security.set_flow_cookie(response, flow.nonce)
    return AuthorizationUrl(url=flow.url)


@router.get("/login", response_class=RedirectResponse, status_code=302)
def browser_sign_in(request: Request, login_hint: LoginHint = None, next_path: NextPath = None) -> RedirectResponse:
    """Browser navigation: sets the flow cookie and goes to Google's sign-in."""
    _limit_by_ip(request)
    try:
        login_hint = oauth_flows.checked_login_hint(login_hint)
    except DomainError as exc:  # back to the sign-in form, which shows the fixed message for the code
        query = urlencode({"error": exc.extra["code"], "next": next_path or routes.DASHBOARD})
        return RedirectResponse(f"{routes.DASHBOARD}?{query}", status_code=302)
    flow = oauth_flows.start(oauth_flows.SIGNIN, browser=True, login_hint=login_hint, next_path=next_path)
    response = RedirectResponse(flow.url, status_code=302)
    security.set_flow_cookie(response, flow.nonce)
    return response


@router.get("/callback", response_class=RedirectResponse, status_code=302)
def callback(request: Request, session: SessionDep, state: Annotated[str | None, Query(max_length=500)] = None,
             code: Annotated[str | None, Query(max_length=2000)] = None,
             error: Annotated[str | None, Query(max_length=200)] = None) -> RedirectResponse:
    """Google sends the browser back here: finishes a sign-in or a sender connection."""
    # Not rate-limited itself: each callback needs a single-use state, and starting a flow is rate-limited.
    token, _ = request_token(request)
    result = auth.complete_callback(session=session, state=state, code=code, error=error,
                                    flow_nonce=security.flow_cookie(request), session_token=token)
    response = RedirectResponse(_browser_page(result), status_code=302)
    security.clear_flow_cookie(response)
    if result.session_token:
        security.set_session_cookie(response, result.session_token)
    return response


def _browser_page(result: auth.CallbackResult) -> str:
    """Where a browser goes after a callback: the senders page for a connection, else the sign-in's page."""
    if result.kind == oauth_flows.CONNECT_SENDER:
        query = {"error": result.error_code} if result.error_code else {"connected": result.connected or ""}
        return f"{routes.SENDERS}?{urlencode(query)}"
    if result.error_code:
        return f"{routes.DASHBOARD}?{urlencode({'error': result.error_code})}"
    return result.next_path


@router.get("/me")
def me(user: CurrentUser) -> Me:
    """The signed-in user."""
    return Me.model_validate(user, from_attributes=True)


@router.patch("/me")
def update_me(update: ProfileUpdate, user: CurrentUser, session: SessionDep) -> Me:
    """Change one's own display name."""
    updated = users.update_profile(session=session, user_id=user.id, name=update.name)
    return Me.model_validate(updated, from_attributes=True)


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request) -> Response:
    """The presented token stops working at once and the cookie is cleared."""
    token, from_cookie = request_token(request)
    if token and from_cookie:
        security.check_csrf(request)
    auth.revoke_session(token)
    response = Response(status_code=204)
    security.clear_session_cookie(response)
    return response


@router.get("/signout", response_class=RedirectResponse, status_code=302)
def browser_sign_out(request: Request) -> RedirectResponse:
    """Browser navigation: revokes the cookie's token, clears it and goes home."""
    response = RedirectResponse("/", status_code=302)
    if request.headers.get("sec-fetch-site") == "cross-site":  # another site cannot sign users out
        return response
    auth.revoke_session(request.cookies.get(security.TOKEN_COOKIE))
    security.clear_session_cookie(response)
    # The browser forgets this site's storage too, the tab's UI client token with it: the next person on this
    # tab starts a new UI session instead of reusing the previous one's.
    response.headers["Clear-Site-Data"] = '"storage"'
    return response

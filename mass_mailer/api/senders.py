"""The signed-in user's Gmail senders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema, model_validator

from mass_mailer.api import security
from mass_mailer.api.deps import CurrentUser, SessionDep, get_current_user
from mass_mailer.errors import DomainError, InvalidInput
from mass_mailer import routes
from mass_mailer.services import oauth_flows, senders
from mass_mailer.services.senders import SenderStats, SenderView

router = APIRouter(prefix="/api/senders", tags=["senders"])

def _daily_quota(value: object) -> int:
    try:
        return senders.parse_daily_quota(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


# One rule for the API and the senders page (services/senders.py): a whole number 1..MAX_DAILY_QUOTA.
DailyQuota = Annotated[int, BeforeValidator(_daily_quota),
                       WithJsonSchema({"type": "integer", "minimum": 1, "maximum": senders.MAX_DAILY_QUOTA})]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_quota: DailyQuota | None = None
    login_hint: str | None = Field(None, max_length=320)
    warmup: StrictBool | None = Field(None, description="a new account: ramp its daily quota up (default: "
                                                         "WARMUP_DEFAULT)")


class SenderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_quota: DailyQuota | None = None
    warmup: StrictBool | None = Field(None, description="ramp the daily quota up as a new account")

    @model_validator(mode="after")
    def _something(self) -> SenderUpdate:
        if self.daily_quota is None and self.warmup is None:
            raise ValueError("give daily_quota or warmup")
        return self


class AuthorizationUrl(BaseModel):
    url: str


@router.get("")
def list_senders(user: CurrentUser, session: SessionDep) -> list[SenderView]:
    """The signed-in user's senders (never any token)."""
    return senders.list_senders(session=session, user_id=user.id)


@router.post("")
def connect(user: CurrentUser, response: Response,
            body: Annotated[ConnectRequest | None, Body()] = None) -> AuthorizationUrl:
    """The Google authorization URL that connects a Gmail account; keep the cookie this sets for the callback."""
    body = body or ConnectRequest()
    flow = senders.start_connection(user_id=user.id, daily_quota=body.daily_quota, login_hint=body.login_hint,
                                    warmup=body.warmup)
    security.set_flow_cookie(response, flow.nonce)
    return AuthorizationUrl(url=flow.url)


@router.get("/connect", response_class=RedirectResponse, status_code=302)
def browser_connect(request: Request, session: SessionDep,
                    daily_quota: Annotated[DailyQuota | None, Query()] = None,
                    login_hint: Annotated[str | None, Query(max_length=320)] = None,
                    warmup: Annotated[bool | None, Query()] = None) -> RedirectResponse:
    """Browser navigation: sets the flow cookie and goes to Google's consent for sending."""
    user = get_current_user(request, session)
    try:
        login_hint = oauth_flows.checked_login_hint(login_hint)
    except DomainError as exc:  # back to the senders page, which shows the fixed message for the code
        return RedirectResponse(f"{routes.SENDERS}?error={exc.extra['code']}", status_code=302)
    flow = senders.start_connection(user_id=user.id, daily_quota=daily_quota, login_hint=login_hint, browser=True,
                                    warmup=warmup)
    response = RedirectResponse(flow.url, status_code=302)
    security.set_flow_cookie(response, flow.nonce)
    return response


@router.get("/stats")
def stats(user: CurrentUser, session: SessionDep) -> SenderStats:
    """Sent and failed per sender and in total, last 24 h and all time, with quota left."""
    return senders.sender_stats(session=session, user_id=user.id)


@router.get("/{sender_id}")
def get_sender(sender_id: int, user: CurrentUser, session: SessionDep) -> SenderView:
    """One of the user's senders."""
    return senders.get_sender(session=session, user_id=user.id, sender_id=sender_id)


@router.patch("/{sender_id}")
def update_sender(sender_id: int, update: SenderUpdate, user: CurrentUser, session: SessionDep) -> SenderView:
    """Change a sender's daily quota and whether it warms up as a new account."""
    return senders.update_sender(session=session, user_id=user.id, sender_id=sender_id,
                                 daily_quota=update.daily_quota, warmup=update.warmup)


@router.delete("/{sender_id}", status_code=204, response_class=Response)
def delete_sender(sender_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """Remove a sender: its access is revoked at Google, its sending history stays."""
    senders.delete_sender(session=session, user_id=user.id, sender_id=sender_id)
    return Response(status_code=204)


@router.post("/{sender_id}/check")
def check_sender(sender_id: int, user: CurrentUser, session: SessionDep) -> SenderView:
    """Refresh the sender's access now; a refused refresh marks it reauth_required."""
    return senders.check_sender(session=session, sender_id=sender_id, user_id=user.id)

"""The public unsubscribe endpoints of every message's List-Unsubscribe link (no sign-in, rate limited per client).

`POST /u/<token>` is RFC 8058's one-click, as mail providers send it (`List-Unsubscribe=One-Click` as a form body,
no cookie); it unsubscribes at once. `GET /u/<token>` only shows a page asking to confirm with a button (link
scanners open links, so a GET never unsubscribes), whose form posts to the same URL.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session

from mass_mailer.api.security import client_ip
from mass_mailer.db import get_engine
from mass_mailer.errors import InvalidInput
from mass_mailer.services import ratelimit, unsubscribe
from mass_mailer.settings import get_settings

router = APIRouter(prefix="/u", tags=["unsubscribe"])
_MAX_TOKEN = 2000

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f6f7f9; color: #1c2024; margin: 0; }}
main {{ max-width: 28rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 12px;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.3rem; margin-top: 0; }}
button {{ font: inherit; background: #3e63dd; color: #fff; border: 0; border-radius: 8px; padding: .6rem 1.2rem;
          cursor: pointer; }}
@media (prefers-color-scheme: dark) {{ body {{ background: #111113; color: #edeef0; }}
                                       main {{ background: #1c1c1f; }} }}
</style></head><body><main>{body}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store"})


def _limited(request: Request) -> None:
    ratelimit.check("unsubscribe", client_ip(request), get_settings().unsubscribe_rate_limit)


def _invalid(exc: InvalidInput) -> HTMLResponse:
    return _page("Link not valid", f"<h1>This link is not valid</h1><p>{escape(exc.message)}.</p>"
                 "<p>Use the unsubscribe link of the message exactly as it came.</p>", status=400)


@router.get("/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request) -> Response:
    """A page that asks to confirm; nothing changes until its button is pressed."""
    _limited(request)
    try:
        wanted = unsubscribe.read(token[:_MAX_TOKEN])
    except InvalidInput as exc:
        return _invalid(exc)
    return _page("Unsubscribe", f"""<h1>Unsubscribe {escape(wanted.email)}?</h1>
<p>You will not receive these emails from this sender any more.</p>
<form method="post" action="{unsubscribe.PATH}{escape(token)}"><input type="hidden" name="confirm" value="1">
<button type="submit">Unsubscribe</button></form>""")


@router.post("/{token}", response_model=None)
async def unsubscribe_now(token: str, request: Request) -> Response:
    """Unsubscribe: a provider's one-click POST (`List-Unsubscribe=One-Click`) or the confirmation page's button."""
    _limited(request)
    form = (await request.body())[:4096].decode("latin-1")
    one_click = unsubscribe.ONE_CLICK in form

    def run() -> unsubscribe.Unsubscribe:
        with Session(get_engine()) as session:
            return unsubscribe.unsubscribe(session=session, value=token[:_MAX_TOKEN])

    try:
        done = await run_in_threadpool(run)
    except InvalidInput as exc:
        return PlainTextResponse(exc.message, status_code=400) if one_click else _invalid(exc)
    if one_click:
        return PlainTextResponse("Unsubscribed")
    return _page("Unsubscribed", f"<h1>You are unsubscribed</h1><p>{escape(done.email)} will not receive these "
                 "emails from this sender any more.</p>")

"""Dependencies shared by the routes: a database session and the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from mass_mailer.api.security import TOKEN_COOKIE, check_csrf
from mass_mailer.db import get_engine
from mass_mailer.errors import Forbidden, NotAuthenticated
from mass_mailer.models import Role, User
from mass_mailer.services import auth


def get_session() -> Iterator[Session]:
    """A session per request; services commit their own transactions."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def request_token(request: Request) -> tuple[str | None, bool]:
    """The session token of a request and whether it came from the cookie (Bearer wins)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    return request.cookies.get(TOKEN_COOKIE), True


def get_current_user(request: Request, session: SessionDep) -> User:
    """The signed-in, active user; 401 otherwise, 403 for a cross-site cookie-authenticated request."""
    token, from_cookie = request_token(request)
    user = auth.user_from_token(token, session=session)
    if user is None:
        raise NotAuthenticated("Not signed in, or the session has expired")
    if from_cookie:
        check_csrf(request)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin_user(user: CurrentUser) -> User:
    """The signed-in user when an admin; 403 otherwise."""
    if user.role != Role.ADMIN:
        raise Forbidden("Administrators only")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]

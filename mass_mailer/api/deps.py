"""Dependencies shared by the routes: a database session and the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from mass_mailer.db import get_engine


def get_session() -> Iterator[Session]:
    """A session per request; services commit their own transactions."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

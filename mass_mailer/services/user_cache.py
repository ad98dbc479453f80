"""The user behind a UI event, checked on every event without a database query each time.

Every UI event validates its session (state/auth.py, state/guard.py): the token's signature and expiry, its
revocation, and the user's row (still there, active, still allowed to sign in). A live job page sends an event
every half-second, so the row is kept in the process for up to ROW_SECONDS and dropped as soon as the user
changes: every commit that changes a user's row bumps that user's stamp in Redis (a session event, below, whatever
code made the change), and every check reads the stamp in the same Redis round trip as the revocation. A stamp
that moved, or a row older than ROW_SECONDS, is read again from PostgreSQL. A change made outside the application
(SQL typed by hand) therefore shows within ROW_SECONDS; one made by the application, at the next event.

The REST API does not use this: each request reads the row (it has its database session anyway)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from mass_mailer.redis_client import get_redis

log = logging.getLogger(__name__)

ROW_SECONDS = 10.0
_STAMP_SECONDS = 86_400  # a stamp outlives any kept row by far
_MOST_KEPT = 10_000
_CHANGED = "mm_changed_users"  # Session.info key: ids of users a flush of the transaction changed


def stamp_key(user_id: int) -> str:
    return f"mm:user-stamp:{user_id}"


@dataclasses.dataclass(frozen=True)
class _Kept:
    at: float
    stamp: bytes | None
    user: object  # models.User, detached


# Keyed by the session (user id and the token's jti), not the user id alone: a user id that comes back for someone
# else (a database restored from a backup, a test's reset) never finds the row kept for another person's session.
_kept: dict[tuple[int, str], _Kept] = {}


def user_for_token(token: str | None):
    """The active, allowed user a session token belongs to, or None (bad, expired or revoked token, inactive or
    removed user): what `auth.user_from_token` answers, from a row at most ROW_SECONDS old and current as of the
    last change the application made to it."""
    from mass_mailer.db import session_scope
    from mass_mailer.models import User
    from mass_mailer.services import auth, tokens

    claims = tokens.decode(token) if token else None
    if claims is None:
        return None
    revoked, stamp = get_redis().pipeline(transaction=False).exists(tokens.revoked_key(claims.jti)) \
        .get(stamp_key(claims.user_id)).execute()
    if revoked:
        return None
    now, key = time.monotonic(), (claims.user_id, claims.jti)
    kept = _kept.get(key)
    if kept is not None and kept.stamp == stamp and now - kept.at < ROW_SECONDS:
        user = kept.user
    else:
        with session_scope() as session:
            user = session.get(User, claims.user_id)
        if len(_kept) >= _MOST_KEPT:
            for old in [k for k, v in _kept.items() if now - v.at >= ROW_SECONDS]:
                del _kept[old]
            if len(_kept) >= _MOST_KEPT:
                _kept.clear()
        if user is None:
            _kept.pop(key, None)
        else:
            _kept[key] = _Kept(at=now, stamp=stamp, user=user)  # the stamp read before the row
    return user if auth.may_use(user) else None


def changed(user_ids: Iterable[int]) -> None:
    """These users' rows changed (committed): every process reads them again at their next check."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    for key in [k for k in _kept if k[0] in ids]:
        _kept.pop(key, None)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for user_id in ids:
            pipe.incr(stamp_key(user_id))
            pipe.expire(stamp_key(user_id), _STAMP_SECONDS)
        pipe.execute()
    except RedisError as exc:
        # No session can be checked while Redis is away (revocation lives there); other processes read the row
        # again within ROW_SECONDS.
        log.warning("could not mark users %s changed (Redis: %s)", ids, type(exc).__name__)


def _note_changed(session: Session, flush_context) -> None:  # noqa: ARG001 - event signature
    from mass_mailer.models import User

    touched = [obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, User) and obj.id is not None]
    if touched:
        session.info.setdefault(_CHANGED, set()).update(touched)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_CHANGED, None)
    if ids:
        changed(ids)


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


event.listen(Session, "after_flush", _note_changed)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_rollback", _after_rollback)

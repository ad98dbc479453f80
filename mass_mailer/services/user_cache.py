"""The user behind a UI event, checked on every event without a database query each time.

Every UI event validates its session (state/auth.py, state/guard.py): the token's signature and expiry, its
revocation, and the user's row (still there, active, still allowed to sign in). A live job page sends an event
every half-second, so the row is kept in the process for up to ROW_SECONDS and dropped as soon as the user
changes: every commit that changes a user's row moves that user's stamp in Redis (session events, below, whatever
code made the change), and every check reads the stamp in the same Redis round trip as the revocation. A stamp
that moved, or a row older than ROW_SECONDS, is read again from PostgreSQL. A change made outside the application
(SQL typed by hand) therefore shows within ROW_SECONDS; one made by the application, at the next event.

The stamp moves twice: before the commit, so that a change whose stamp cannot be moved (Redis unreachable) fails and
is rolled back instead of being committed unseen, and again after it, so that a row read between the two moves
(the old row, under the new stamp) is not kept. Each move sets a value never used before (not a counter, which
would start again at 1 after Redis lost the key and could match a kept stamp). Bulk UPDATE or DELETE statements on
`users` through a session move the stamp of every user (one shared stamp, read with the user's own).

The REST API does not use this: each request reads the row (it has its database session anyway)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
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
_ALL = "mm_changed_all_users"  # Session.info key: a bulk statement changed users in this transaction
ALL_STAMP_KEY = "mm:user-stamp:all"


def stamp_key(user_id: int) -> str:
    return f"mm:user-stamp:{user_id}"


@dataclasses.dataclass(frozen=True)
class _Kept:
    at: float
    stamp: tuple[str | None, str | None]  # the user's own stamp and the shared one, as read before the row
    user: object  # models.User, detached


# Checks run on worker threads and changes may be noted on any thread: every use of _kept holds this lock.
_lock = threading.Lock()


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
    revoked, own, shared = get_redis().pipeline(transaction=False).exists(tokens.revoked_key(claims.jti)) \
        .get(stamp_key(claims.user_id)).get(ALL_STAMP_KEY).execute()
    if revoked:
        return None
    now, key, stamp = time.monotonic(), (claims.user_id, claims.jti), (own, shared)
    with _lock:
        kept = _kept.get(key)
    if kept is not None and kept.stamp == stamp and now - kept.at < ROW_SECONDS:
        user = kept.user
    else:
        with session_scope() as session:
            user = session.get(User, claims.user_id)
        with _lock:
            if len(_kept) >= _MOST_KEPT:
                for old in [k for k, v in _kept.items() if now - v.at >= ROW_SECONDS]:
                    del _kept[old]
                if len(_kept) >= _MOST_KEPT:
                    _kept.clear()
            if user is None:
                _kept.pop(key, None)
            else:
                _kept[key] = _Kept(at=now, stamp=stamp, user=user)  # the stamps read before the row
    return user if auth.may_use(user, claims) else None


def _move_stamps(ids: list[int], everyone: bool) -> None:
    """Give these users' stamps (or the shared one) a value no kept row was read under. Raises RedisError."""
    value = uuid.uuid4().hex
    pipe = get_redis().pipeline(transaction=False)
    for user_id in ids:
        pipe.set(stamp_key(user_id), value, ex=_STAMP_SECONDS)
    if everyone:
        pipe.set(ALL_STAMP_KEY, value, ex=_STAMP_SECONDS)
    pipe.execute()


def _forget(ids: list[int], everyone: bool) -> None:
    with _lock:
        if everyone:
            _kept.clear()
        else:
            for key in [k for k in _kept if k[0] in ids]:
                _kept.pop(key, None)


def changed(user_ids: Iterable[int], everyone: bool = False) -> None:
    """These users' rows changed (committed), or every user's: every process reads them again at their next check.
    A Redis failure here is logged: the stamps already moved before the commit (see the module's docstring), so
    the most a failure leaves is a row read between that move and the commit, kept for at most ROW_SECONDS."""
    ids = sorted(set(user_ids))
    if not ids and not everyone:
        return
    _forget(ids, everyone)
    try:
        _move_stamps(ids, everyone)
    except RedisError as exc:
        log.warning("could not mark users %s changed after the commit (Redis: %s)", ids or "all",
                    type(exc).__name__)


def _touched(session: Session) -> list[int]:
    from mass_mailer.models import User

    return [obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, User) and obj.id is not None]


def _note_changed(session: Session, flush_context) -> None:  # noqa: ARG001 - event signature
    touched = _touched(session)
    if touched:
        session.info.setdefault(_CHANGED, set()).update(touched)


def _note_bulk(orm_execute_state) -> None:
    """A bulk UPDATE or DELETE through the ORM (`session.execute(update(User)...)`) names no rows: it moves the
    shared stamp, so every kept user row is read again."""
    from mass_mailer.models import User

    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is not None and mapper.class_ is User:
        orm_execute_state.session.info[_ALL] = True


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer commit moves the stamps
        return
    ids = sorted(session.info.get(_CHANGED, set()) | set(_touched(session)))
    everyone = bool(session.info.get(_ALL))
    if ids or everyone:
        _move_stamps(ids, everyone)  # a RedisError here fails the commit: the change is rolled back, not unseen


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    ids = session.info.pop(_CHANGED, None) or set()
    everyone = bool(session.info.pop(_ALL, False))
    if ids or everyone:
        changed(ids, everyone)


def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint rolled back: rows flushed before it still change
        return
    session.info.pop(_CHANGED, None)
    session.info.pop(_ALL, None)


event.listen(Session, "after_flush", _note_changed)
event.listen(Session, "do_orm_execute", _note_bulk)
event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_rollback", _after_rollback)

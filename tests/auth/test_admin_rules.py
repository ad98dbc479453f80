"""Admin changes: strict types (API and the admin page's event handlers), no self-changes, the last-admin rule."""

from __future__ import annotations

import threading

import pytest

from mass_mailer.db import session_scope
from mass_mailer.errors import Forbidden, InvalidInput
from mass_mailer.models import User
from mass_mailer.services import users as users_service
from mass_mailer.state.admin import AdminState
from tests.auth.ui_state import fire, tab, toast


def _id(agent) -> int:
    return agent.get("/api/auth/me").json()["id"]


def _user(user_id: int) -> tuple[str, bool]:
    with session_scope() as session:
        user = session.get(User, user_id)
        return user.role, user.is_active


def test_the_admin_page_refuses_values_of_the_wrong_type_and_changes_nothing(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    admin_id, bob_id = _id(admin), _id(bob)
    for handler, payload in [
        ("set_active", {"user_id": admin_id, "active": 0}),  # the last admin locking everyone out
        ("set_active", {"user_id": bob_id, "active": 0}),
        ("set_active", {"user_id": bob_id, "active": "false"}),
        ("set_active", {"user_id": bob_id, "active": None}),
        ("set_active", {"user_id": True, "active": False}),
        ("set_active", {"user_id": 2.5, "active": False}),
        ("set_active", {"user_id": [bob_id], "active": False}),
        ("set_role", {"user_id": bob_id, "role": "root"}),
        ("set_role", {"user_id": bob_id, "role": ["admin"]}),
        ("set_role", {"user_id": bob_id, "role": 1}),
        ("set_role", {"user_id": admin_id, "role": "user"}),  # one's own account
    ]:
        state = tab(AdminState, token=admin.token, path="/admin")
        result = fire(state, handler, **payload)
        assert toast(result) is not None and toast(result)[0] == "error", (handler, payload, result)
        assert _user(admin_id) == ("admin", True) and _user(bob_id) == ("user", True), (handler, payload)
    assert admin.get("/api/users").status_code == 200


def test_the_admin_page_still_changes_other_users(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    bob_id = _id(bob)
    assert toast(fire(tab(AdminState, token=admin.token), "set_role", user_id=bob_id, role="admin")) == (
        "success", "Updated bob@example.com")
    assert toast(fire(tab(AdminState, token=admin.token), "set_active", user_id=str(bob_id), active=False))[0] == (
        "success")  # the page sends ids as text at times: Reflex converts them for an int argument
    assert _user(bob_id) == ("admin", False)
    assert bob.get("/api/auth/me").status_code == 401


def test_a_non_admin_cannot_use_the_admin_page(signed_in):
    signed_in("admin@example.com")
    bob = signed_in("bob@example.com")
    assert toast(fire(tab(AdminState, token=bob.token), "set_role", user_id=_id(bob), role="admin")) == (
        "error", "Only admins can change users")
    assert _user(_id(bob)) == ("user", True)


def test_an_admin_cannot_change_their_own_account_through_the_api(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    assert admin.patch(f"/api/users/{_id(bob)}", json={"role": "admin"}).status_code == 200
    for change in ({"role": "user"}, {"is_active": False}, {"role": "admin", "is_active": True}):
        answer = admin.patch(f"/api/users/{_id(admin)}", json=change)
        assert answer.status_code == 403, change
        assert "your own" in answer.json()["detail"]
    assert admin.get("/api/auth/me").json()["role"] == "admin"
    assert admin.get("/api/users").status_code == 200


def test_the_service_checks_types_and_self_changes_for_every_caller(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    admin_id, bob_id = _id(admin), _id(bob)
    with session_scope() as session:
        for change in ({"is_active": 0}, {"is_active": 1}, {"is_active": "no"}, {"role": "root"}, {"role": 0}):
            with pytest.raises(InvalidInput):
                users_service.update_user(session=session, actor_id=admin_id, user_id=bob_id, **change)
        with pytest.raises(InvalidInput):
            users_service.update_user(session=session, actor_id=admin_id, user_id=str(bob_id), is_active=False)
        with pytest.raises(Forbidden):
            users_service.update_user(session=session, actor_id=admin_id, user_id=admin_id, is_active=False)
    assert _user(bob_id) == ("user", True) and _user(admin_id) == ("admin", True)


def test_two_admins_demoting_each_other_at_once_leave_an_admin(signed_in):
    one, two = signed_in("one@example.com"), signed_in("two@example.com")
    one_id, two_id = _id(one), _id(two)
    assert one.patch(f"/api/users/{two_id}", json={"role": "admin"}).status_code == 200
    for _ in range(5):
        answers: dict[str, int] = {}
        start = threading.Barrier(2)

        def demote(agent, target, name):
            start.wait()
            answers[name] = agent.patch(f"/api/users/{target}", json={"role": "user"}).status_code

        threads = [threading.Thread(target=demote, args=(one, two_id, "one")),
                   threading.Thread(target=demote, args=(two, one_id, "two"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers.values())[0] == 200 and sorted(answers.values())[1] in (403, 409), answers
        roles = [_user(one_id)[0], _user(two_id)[0]]
        assert roles.count("admin") == 1
        winner, loser = (one, two_id) if roles[0] == "admin" else (two, one_id)
        assert winner.patch(f"/api/users/{loser}", json={"role": "admin"}).status_code == 200

"""User administration: admin-only access, roles, the last-admin rule and deactivation."""

from __future__ import annotations

from mass_mailer.db import session_scope
from mass_mailer.models import EmailJob


def _id(agent) -> int:
    return agent.get("/api/auth/me").json()["id"]


def test_admin_lists_users_with_counts_and_non_admin_gets_403(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    with session_scope() as session:
        session.add(EmailJob(user_id=_id(bob), subject="s", html_content="h", sent_count=7))
        session.add(EmailJob(user_id=_id(bob), subject="s", html_content="h", sent_count=3))
    listed = admin.get("/api/users").json()
    assert [(u["email"], u["role"], u["is_active"]) for u in listed] == [
        ("admin@example.com", "admin", True), ("bob@example.com", "user", True)]
    assert {"id", "email", "name", "role", "is_active", "created_at"} <= set(listed[0])
    assert (listed[1]["job_count"], listed[1]["sent_count"]) == (2, 10)
    assert bob.get("/api/users").status_code == 403
    assert bob.patch(f"/api/users/{_id(bob)}", json={"role": "admin"}).status_code == 403


def test_promote_and_demote(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    answer = admin.patch(f"/api/users/{_id(bob)}", json={"role": "admin"})
    assert answer.status_code == 200 and answer.json()["role"] == "admin"
    assert bob.get("/api/users").status_code == 200  # the new role counts at once
    assert bob.patch(f"/api/users/{_id(admin)}", json={"role": "user"}).json()["role"] == "user"
    assert admin.get("/api/users").status_code == 403


def test_last_active_admin_cannot_be_demoted_or_deactivated(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    from mass_mailer.errors import Conflict
    from mass_mailer.services.users import update_user

    # Through the API an admin can neither change their own account nor be the only admin when changing
    # another admin; the rule itself holds for any caller of the service (two admins racing, see test_admin_rules).
    with session_scope() as session:
        for change in ({"role": "user"}, {"is_active": False}):
            try:
                update_user(session=session, actor_id=_id(bob), user_id=_id(admin), **change)
            except Conflict as exc:
                assert "last active admin" in exc.message
            else:
                raise AssertionError("the last active admin was changed")
    assert admin.get("/api/auth/me").json()["role"] == "admin"
    admin.patch(f"/api/users/{_id(bob)}", json={"role": "admin"})
    assert bob.patch(f"/api/users/{_id(admin)}", json={"role": "user"}).status_code == 200


def test_deactivated_users_token_stops_at_once_and_they_cannot_sign_in(signed_in):
    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    bob_id = _id(bob)
    answer = admin.patch(f"/api/users/{bob_id}", json={"is_active": False})
    assert answer.status_code == 200 and answer.json()["is_active"] is False
    assert bob.get("/api/auth/me").status_code == 401
    again = bob.sign_in("bob@example.com")
    assert again.status_code == 403 and "deactivated" in again.json()["detail"]
    browser_try = bob.get("/api/auth/login", params={"login_hint": "bob@example.com"})
    final = bob.callback(bob.consent(browser_try.headers["location"]))
    assert final.status_code == 302 and final.headers["location"] == "/?error=deactivated"
    assert bob.token is None or bob.get("/api/auth/me").status_code == 401
    admin.patch(f"/api/users/{bob_id}", json={"is_active": True})
    assert bob.sign_in("bob@example.com").status_code == 302


def test_bad_user_updates(signed_in):
    admin = signed_in("admin@example.com")
    assert admin.patch("/api/users/999999", json={"role": "user"}).status_code == 404
    for bad in ({"role": "root"}, {"is_active": "maybe"}, {"email": "x@example.com"}):
        assert admin.patch(f"/api/users/{_id(admin)}", json=bad).status_code == 422, bad


def test_deactivation_stops_the_users_running_jobs(signed_in):
    from sqlmodel import select

    from mass_mailer.models import EmailRecipient

    admin, bob = signed_in("admin@example.com"), signed_in("bob@example.com")
    with session_scope() as session:
        running = EmailJob(user_id=_id(bob), subject="s", html_content="h", status="in_progress", total_recipients=1)
        done = EmailJob(user_id=_id(bob), subject="s", html_content="h", status="completed")
        session.add_all([running, done])
        session.flush()
        session.add(EmailRecipient(job_id=running.id, email="r@example.com"))
    admin.patch(f"/api/users/{_id(bob)}", json={"is_active": False})
    with session_scope() as session:
        statuses = {j.id: j.status for j in session.exec(select(EmailJob))}
        recipient = session.exec(select(EmailRecipient)).one()
    assert statuses == {running.id: "cancelled", done.id: "completed"}
    assert recipient.status == "cancelled"

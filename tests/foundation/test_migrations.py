"""The migration builds the schema the models describe, and can be undone."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from mass_mailer import db
from mass_mailer.supervisor import ROOT

CFG = Config(str(ROOT / "alembic.ini"))


def _columns(table: str) -> set[str]:
    return {c["name"] for c in inspect(db.get_engine()).get_columns(table)}


def test_models_and_migration_do_not_drift():
    with db.get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_tables_have_the_expected_columns():
    assert {"id", "email", "name", "picture", "google_id", "role", "is_active", "created_at"} <= _columns("users")
    assert {"id", "user_id", "email", "access_token", "refresh_token", "token_expires_at", "daily_quota", "status",
            "quota_reset_at", "created_at"} <= _columns("senders")
    assert {"id", "user_id", "subject", "html_content", "status", "total_recipients", "sent_count",
            "failed_count", "created_at", "updated_at"} <= _columns("email_jobs")
    assert {"id", "job_id", "email", "data", "status", "sender_id", "sent_at", "error_message"} <= _columns(
        "email_recipients")


def test_deleting_a_user_cascades_to_jobs_and_recipients():
    with db.get_engine().begin() as conn:
        uid = conn.execute(text("INSERT INTO users (email) VALUES ('a@example.com') RETURNING id")).scalar()
        jid = conn.execute(text("INSERT INTO email_jobs (user_id, subject, html_content) "
                                "VALUES (:u, 's', 'h') RETURNING id"), {"u": uid}).scalar()
        conn.execute(text("INSERT INTO email_recipients (job_id, email) VALUES (:j, 'r@example.com')"), {"j": jid})
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": uid})
        assert conn.execute(text("SELECT count(*) FROM email_recipients")).scalar() == 0


def test_downgrade_to_empty_and_upgrade_again():
    command.downgrade(CFG, "base")
    try:
        assert "users" not in inspect(db.get_engine()).get_table_names()
    finally:
        command.upgrade(CFG, "head")
    assert {"users", "senders", "email_jobs", "email_recipients"} <= set(inspect(db.get_engine()).get_table_names())

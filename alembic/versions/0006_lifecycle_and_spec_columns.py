"""One lifecycle: paused and scheduled jobs, the delivery_unknown recipient status with its own job counter,
failure kinds (for "Retry failed"), the claiming worker process; the specification's columns
(senders.token_expires_at, daily_sent, last_sent_date; email_recipients.created_at, updated_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JOB_STATUSES = "'queued', 'in_progress', 'completed', 'failed', 'cancelled'"
NEW_JOB_STATUSES = "'scheduled', 'queued', 'in_progress', 'paused', 'completed', 'failed', 'cancelled'"
RECIPIENT_STATUSES = "'pending', 'sending', 'sent', 'failed', 'cancelled'"
NEW_RECIPIENT_STATUSES = RECIPIENT_STATUSES + ", 'delivery_unknown'"
OLD_UNKNOWN = "status = 'failed' AND error_message LIKE 'delivery unknown%'"


def upgrade() -> None:
    op.alter_column('senders', 'token_expiry', new_column_name='token_expires_at')
    op.alter_column('senders', 'daily_quota', server_default='2000')
    op.add_column('senders', sa.Column('daily_sent', sa.Integer(), server_default='0', nullable=False))
    op.add_column('senders', sa.Column('last_sent_date', sa.Date(), nullable=True))
    # NOT VALID: enforced for every new or changed row without failing the upgrade on an odd old one.
    op.execute("ALTER TABLE senders ADD CONSTRAINT ck_senders_refresh_token "
               "CHECK (deleted_at IS NOT NULL OR refresh_token IS NOT NULL) NOT VALID")

    op.add_column('email_jobs', sa.Column('delivery_unknown_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('email_jobs', sa.Column('send_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint('ck_email_jobs_status', 'email_jobs', type_='check')
    op.create_check_constraint('ck_email_jobs_status', 'email_jobs', f"status IN ({NEW_JOB_STATUSES})")

    op.add_column('email_recipients', sa.Column('failure_kind', sa.String(length=20), nullable=True))
    op.add_column('email_recipients', sa.Column('claimed_by', sa.String(length=100), nullable=True))
    op.add_column('email_recipients', sa.Column('created_at', sa.DateTime(timezone=True),
                                                server_default=sa.text('now()'), nullable=False))
    op.add_column('email_recipients', sa.Column('updated_at', sa.DateTime(timezone=True),
                                                server_default=sa.text('now()'), nullable=False))
    op.drop_constraint('ck_email_recipients_status', 'email_recipients', type_='check')
    op.create_check_constraint('ck_email_recipients_status', 'email_recipients',
                               f"status IN ({NEW_RECIPIENT_STATUSES})")
    op.create_check_constraint('ck_email_recipients_failure_kind', 'email_recipients',
                               "failure_kind IS NULL OR failure_kind IN ('permanent', 'gave_up', 'sender', 'internal')")
    op.drop_index('ix_email_recipients_sender_unknown', table_name='email_recipients',
                  postgresql_where=sa.text(OLD_UNKNOWN))

    # Existing rows: true times, the unknown deliveries moved to their own status and counter, failures classified.
    op.execute("""
        UPDATE email_recipients r SET created_at = j.created_at, updated_at = coalesce(r.settled_at, j.created_at)
        FROM email_jobs j WHERE j.id = r.job_id
    """)
    op.execute("""
        WITH moved AS (UPDATE email_recipients SET status = 'delivery_unknown'
                       WHERE status = 'failed' AND error_message LIKE 'delivery unknown%' RETURNING job_id)
        UPDATE email_jobs j SET failed_count = greatest(0, j.failed_count - c.n), delivery_unknown_count = c.n
        FROM (SELECT job_id, count(*) AS n FROM moved GROUP BY job_id) c WHERE j.id = c.job_id
    """)
    op.execute("""
        UPDATE email_recipients SET failure_kind = CASE
            WHEN error_message LIKE 'gave up after%' THEN 'gave_up'
            WHEN error_message LIKE 'no sender left%' THEN 'sender'
            WHEN error_message LIKE 'internal error%' THEN 'internal'
            ELSE 'permanent' END
        WHERE status = 'failed'
    """)
    op.execute("""
        WITH days AS (SELECT sender_id, (sent_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                      FROM email_recipients WHERE status = 'sent' AND sender_id IS NOT NULL GROUP BY 1, 2),
             latest AS (SELECT DISTINCT ON (sender_id) sender_id, day, n FROM days ORDER BY sender_id, day DESC)
        UPDATE senders s SET daily_sent = latest.n, last_sent_date = latest.day
        FROM latest WHERE s.id = latest.sender_id
    """)
    op.create_index('ix_email_recipients_sender_unknown', 'email_recipients', ['sender_id', 'settled_at'],
                    unique=False, postgresql_where=sa.text("status = 'delivery_unknown'"))


def downgrade() -> None:
    op.drop_index('ix_email_recipients_sender_unknown', table_name='email_recipients',
                  postgresql_where=sa.text("status = 'delivery_unknown'"))
    op.execute("""
        WITH moved AS (UPDATE email_recipients SET status = 'failed'
                       WHERE status = 'delivery_unknown' RETURNING job_id)
        UPDATE email_jobs j SET failed_count = j.failed_count + c.n
        FROM (SELECT job_id, count(*) AS n FROM moved GROUP BY job_id) c WHERE j.id = c.job_id
    """)
    op.execute("UPDATE email_jobs SET status = 'queued' WHERE status = 'scheduled'")
    op.execute("UPDATE email_jobs SET status = 'in_progress' WHERE status = 'paused'")
    op.create_index('ix_email_recipients_sender_unknown', 'email_recipients', ['sender_id', 'settled_at'],
                    unique=False, postgresql_where=sa.text(OLD_UNKNOWN))
    op.drop_constraint('ck_email_recipients_failure_kind', 'email_recipients', type_='check')
    op.drop_constraint('ck_email_recipients_status', 'email_recipients', type_='check')
    op.create_check_constraint('ck_email_recipients_status', 'email_recipients', f"status IN ({RECIPIENT_STATUSES})")
    for column in ('updated_at', 'created_at', 'claimed_by', 'failure_kind'):
        op.drop_column('email_recipients', column)
    op.drop_constraint('ck_email_jobs_status', 'email_jobs', type_='check')
    op.create_check_constraint('ck_email_jobs_status', 'email_jobs', f"status IN ({JOB_STATUSES})")
    op.drop_column('email_jobs', 'send_at')
    op.drop_column('email_jobs', 'delivery_unknown_count')
    op.drop_constraint('ck_senders_refresh_token', 'senders', type_='check')
    op.drop_column('senders', 'last_sent_date')
    op.drop_column('senders', 'daily_sent')
    op.alter_column('senders', 'daily_quota', server_default=None)
    op.alter_column('senders', 'token_expires_at', new_column_name='token_expiry')

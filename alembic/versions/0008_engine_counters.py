"""Per (job, sender) send counters, and one small index over claimed rows

Settles count into `job_sender_counts`, one row per job and sender, instead of the job's own row: concurrent sends of
one job through different senders no longer queue on that row. The scheduler folds the new counts into the job's
`sent_count` / `failed_count` / `delivery_unknown_count` every round (`folded_*` is what it folded so far); readers
add what is not folded yet. The per-sender progress of a job reads these rows instead of counting its recipients.

A batch reserves a few rows at a time (status `sending`) and marks each one `send_started_at` just before its send:
a reserved row that was never begun goes back to the pool when its worker dies, instead of becoming
delivery_unknown. The partial index over `sending` rows no longer holds the lease, so that renewing the lease when a
send begins changes no indexed column (an in-place HOT update), and the table leaves room on its pages for those.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_sender_counts',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=False),
        sa.Column('sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
        sa.Column('delivery_unknown', sa.Integer(), server_default='0', nullable=False),
        sa.Column('folded_sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('folded_failed', sa.Integer(), server_default='0', nullable=False),
        sa.Column('folded_unknown', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['email_jobs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sender_id'], ['senders.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id', 'sender_id'),
    )
    # The existing outcomes are already in the jobs' counters: folded.
    op.execute("""
        INSERT INTO job_sender_counts (job_id, sender_id, sent, failed, delivery_unknown,
                                       folded_sent, folded_failed, folded_unknown)
        SELECT job_id, sender_id, s, f, u, s, f, u FROM (
            SELECT job_id, sender_id, count(*) FILTER (WHERE status = 'sent') AS s,
                   count(*) FILTER (WHERE status = 'failed') AS f,
                   count(*) FILTER (WHERE status = 'delivery_unknown') AS u
            FROM email_recipients WHERE sender_id IS NOT NULL AND status IN ('sent', 'failed', 'delivery_unknown')
            GROUP BY job_id, sender_id) c
    """)
    op.add_column('email_recipients', sa.Column('send_started_at', sa.DateTime(timezone=True), nullable=True))
    # Rows claimed before this version were all begun (the claim and the send's start were one step).
    op.execute("UPDATE email_recipients SET send_started_at = coalesce(lease_expires_at, now()) "
               "WHERE status = 'sending'")
    op.drop_index('ix_email_recipients_lease', table_name='email_recipients', postgresql_where=sa.text("status = 'sending'"))
    op.create_index('ix_email_recipients_sending', 'email_recipients', ['sender_id'], unique=False,
                    postgresql_where=sa.text("status = 'sending'"))
    op.execute("ALTER TABLE email_recipients SET (fillfactor = 85)")


def downgrade() -> None:
    op.execute("""
        UPDATE email_jobs j SET sent_count = j.sent_count + d.s, failed_count = j.failed_count + d.f,
                                delivery_unknown_count = j.delivery_unknown_count + d.u
        FROM (SELECT job_id, sum(sent - folded_sent) AS s, sum(failed - folded_failed) AS f,
                     sum(delivery_unknown - folded_unknown) AS u FROM job_sender_counts GROUP BY job_id) d
        WHERE j.id = d.job_id
    """)
    op.execute("UPDATE email_recipients SET status = 'pending', claimed_by = NULL, lease_expires_at = NULL, "
               "sender_id = NULL WHERE status = 'sending' AND send_started_at IS NULL")
    op.execute("ALTER TABLE email_recipients RESET (fillfactor)")
    op.drop_index('ix_email_recipients_sending', table_name='email_recipients',
                  postgresql_where=sa.text("status = 'sending'"))
    op.drop_column('email_recipients', 'send_started_at')
    op.create_index('ix_email_recipients_lease', 'email_recipients', ['lease_expires_at'], unique=False,
                    postgresql_where=sa.text("status = 'sending'"))
    op.drop_table('job_sender_counts')

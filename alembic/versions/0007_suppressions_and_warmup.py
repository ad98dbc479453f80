"""Suppression list (unsubscribes, manual, imported), the suppressed recipient status and job counter, and the
senders' warm-up ramp

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

RECIPIENT_STATUSES = "'pending', 'sending', 'sent', 'failed', 'cancelled', 'delivery_unknown'"


def upgrade() -> None:
    op.create_table(
        'suppressions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("reason IN ('unsubscribed', 'manual', 'imported')", name='ck_suppressions_reason'),
        sa.ForeignKeyConstraint(['job_id'], ['email_jobs.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'email', name='uq_suppressions_user_email'),
    )
    op.create_index('ix_suppressions_created_at', 'suppressions', ['created_at'], unique=False)
    op.add_column('email_jobs', sa.Column('suppressed_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('senders', sa.Column('warmup', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('senders', sa.Column('warmup_step', sa.Integer(), server_default='0', nullable=False))
    op.drop_constraint('ck_email_recipients_status', 'email_recipients', type_='check')
    op.create_check_constraint('ck_email_recipients_status', 'email_recipients',
                               f"status IN ({RECIPIENT_STATUSES}, 'suppressed')")


def downgrade() -> None:
    op.execute("UPDATE email_recipients SET status = 'cancelled' WHERE status = 'suppressed'")
    op.drop_constraint('ck_email_recipients_status', 'email_recipients', type_='check')
    op.create_check_constraint('ck_email_recipients_status', 'email_recipients', f"status IN ({RECIPIENT_STATUSES})")
    op.drop_column('senders', 'warmup_step')
    op.drop_column('senders', 'warmup')
    op.drop_column('email_jobs', 'suppressed_count')
    op.drop_index('ix_suppressions_created_at', table_name='suppressions')
    op.drop_table('suppressions')

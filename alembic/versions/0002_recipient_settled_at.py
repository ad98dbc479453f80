"""recipients: settled_at, when a send ended as sent or failed (for per-minute charts)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('email_recipients', sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
    # Sent rows already know when; failures from before this revision have no time and are not charted.
    op.execute("UPDATE email_recipients SET settled_at = sent_at WHERE status = 'sent'")
    # Partial, so that claims (which look for pending rows by job) never pick it over the job/status index.
    op.create_index('ix_email_recipients_job_settled_at', 'email_recipients', ['job_id', 'settled_at'], unique=False,
                    postgresql_where=sa.text('settled_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_email_recipients_job_settled_at', table_name='email_recipients',
                  postgresql_where=sa.text('settled_at IS NOT NULL'))
    op.drop_column('email_recipients', 'settled_at')

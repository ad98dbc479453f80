"""email_jobs.is_test: test sends ("Send test to myself") are listed apart from campaigns

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('email_jobs', sa.Column('is_test', sa.Boolean(), nullable=True))
    # Test sends made before this revision: one recipient, and the subject the UI gave them.
    op.execute("UPDATE email_jobs SET is_test = true WHERE subject LIKE '[Test] %' AND total_recipients = 1")


def downgrade() -> None:
    op.drop_column('email_jobs', 'is_test')

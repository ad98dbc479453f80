"""email_jobs.name: the campaign's own name, by which jobs are listed (NULL: listed by subject)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('email_jobs', sa.Column('name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column('email_jobs', 'name')

"""An index for failed sends whose delivery is unknown, which count against a sender's daily quota

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_email_recipients_sender_unknown', 'email_recipients', ['sender_id', 'settled_at'],
                    unique=False,
                    postgresql_where=sa.text("status = 'failed' AND error_message LIKE 'delivery unknown%'"))


def downgrade() -> None:
    op.drop_index('ix_email_recipients_sender_unknown', table_name='email_recipients',
                  postgresql_where=sa.text("status = 'failed' AND error_message LIKE 'delivery unknown%'"))

"""The (job_id, status) index of email_recipients also holds the id

A job page lists a job's recipients in their upload order (id), all of them or those of one status. With the id in
the index, each status's rows come out of it already in order: the first page is a merge of a few short index ranges
whatever the size of the job, instead of a sort of every row of that status (50,000 failed rows of a 1,000,000-row
job), or a walk of the primary key past every older job's rows. A settle changes the status, so it rewrote this index
entry before too: sending costs the same.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_email_recipients_job_status', table_name='email_recipients')
    op.create_index('ix_email_recipients_job_status', 'email_recipients', ['job_id', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_email_recipients_job_status', table_name='email_recipients')
    op.create_index('ix_email_recipients_job_status', 'email_recipients', ['job_id', 'status'], unique=False)

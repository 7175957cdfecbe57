"""exactly once under concurrency: per-row requeue budget, outbox mark, confirmed
liveness, and a version bump on every write to jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('job_results', sa.Column('requeues', sa.Integer(), server_default='0', nullable=False))
    op.create_check_constraint('ck_job_results_requeues', 'job_results', 'requeues >= 0')
    op.add_column('jobs', sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('worker_heartbeats', sa.Column('suspected_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_job_results_open', 'job_results', ['status', 'id'],
                    postgresql_where=sa.text("status IN ('pending', 'submitting')"))
    # Whatever writes a jobs row, its version moves on, so a compare-and-set on version
    # can never overwrite a change it did not see (writers that set it themselves win).
    op.execute(
        """
        CREATE FUNCTION jobs_bump_version() RETURNS trigger AS $$
        BEGIN
            IF NEW.version = OLD.version THEN
                NEW.version := OLD.version + 1;
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_version_on_update BEFORE UPDATE ON jobs "
        "FOR EACH ROW EXECUTE FUNCTION jobs_bump_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS jobs_version_on_update ON jobs")
    op.execute("DROP FUNCTION IF EXISTS jobs_bump_version()")
    op.drop_index('ix_job_results_open', table_name='job_results')
    op.drop_column('worker_heartbeats', 'suspected_at')
    op.drop_column('jobs', 'enqueued_at')
    op.drop_constraint('ck_job_results_requeues', 'job_results', type_='check')
    op.drop_column('job_results', 'requeues')

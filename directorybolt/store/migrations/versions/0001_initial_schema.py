"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('producer', 'staff')", name='ck_api_keys_role'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    op.create_table('customers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('business_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('website', sa.String(length=2048), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('city', sa.String(length=120), nullable=True),
    sa.Column('state', sa.String(length=60), nullable=True),
    sa.Column('zip', sa.String(length=20), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('length(business_name) > 0', name='ck_customers_business_name'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('directories',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('submission_url', sa.String(length=2048), nullable=True),
    sa.Column('category', sa.String(length=120), nullable=True),
    sa.Column('domain_authority', sa.Integer(), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('requires_login', sa.Boolean(), nullable=False),
    sa.Column('has_captcha', sa.Boolean(), nullable=False),
    sa.Column('plan', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('source', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('domain_authority BETWEEN 0 AND 100', name='ck_directories_da'),
    sa.CheckConstraint('tier BETWEEN 1 AND 3', name='ck_directories_tier'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_directories_selection', 'directories', ['active', 'tier', sa.literal_column('domain_authority DESC')], unique=False)
    op.create_table('queue_history_archive',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('directory_id', sa.String(length=120), nullable=True),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('delay_s', sa.Float(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_queue_history_archive_created_at', 'queue_history_archive', ['created_at'], unique=False)
    op.create_table('jobs',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('fast_track', sa.Boolean(), nullable=False),
    sa.Column('queue', sa.String(length=60), nullable=False),
    sa.Column('package_size', sa.Integer(), nullable=False),
    sa.Column('directories_available', sa.Integer(), nullable=True),
    sa.Column('requested_directories', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_note', sa.Text(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('submitted', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('needs_review', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('requeue_count', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('last_heartbeat', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'in_progress', 'completed', 'partial', 'failed', 'cancelled')", name='ck_jobs_status'),
    sa.CheckConstraint('package_size > 0', name='ck_jobs_package_size'),
    sa.CheckConstraint('requeue_count >= 0', name='ck_jobs_requeue_count'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index('ix_jobs_created_at', 'jobs', [sa.literal_column('created_at DESC')], unique=False)
    op.create_index('ix_jobs_customer', 'jobs', ['customer_id', sa.literal_column('created_at DESC')], unique=False)
    op.create_index('ix_jobs_status_heartbeat', 'jobs', ['status', 'last_heartbeat'], unique=False)
    op.create_table('dead_letters',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('task_name', sa.String(length=200), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=True),
    sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('kwargs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('queue', sa.String(length=60), nullable=True),
    sa.Column('tier', sa.String(length=20), nullable=True),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('directory_id', sa.String(length=120), nullable=True),
    sa.Column('exception_type', sa.String(length=200), nullable=False),
    sa.Column('exception_message', sa.Text(), nullable=False),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('open', 'replayed', 'purged')", name='ck_dead_letters_state'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_dead_letters_state_created', 'dead_letters', ['state', 'created_at'], unique=False)
    op.create_table('job_results',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=False),
    sa.Column('directory_id', sa.String(length=120), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error_category', sa.String(length=40), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('screenshot_path', sa.String(length=1024), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('worker_id', sa.String(length=200), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'submitting', 'submitted', 'failed', 'skipped', 'needs_review')", name='ck_job_results_status'),
    sa.CheckConstraint('attempts >= 0', name='ck_job_results_attempts'),
    sa.ForeignKeyConstraint(['directory_id'], ['directories.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('job_id', 'directory_id', name='uq_job_results_job_directory')
    )
    op.create_index('ix_job_results_job_status', 'job_results', ['job_id', 'status'], unique=False)
    op.create_table('queue_history',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('directory_id', sa.String(length=120), nullable=True),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('delay_s', sa.Float(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_queue_history_created_at', 'queue_history', ['created_at'], unique=False)
    op.create_index('ix_queue_history_job', 'queue_history', ['job_id', 'created_at'], unique=False)
    op.create_table('worker_heartbeats',
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('hostname', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('current_job_id', sa.UUID(), nullable=True),
    sa.Column('current_directory_id', sa.String(length=120), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_heartbeat', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['current_job_id'], ['jobs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('worker_id')
    )
    op.create_index('ix_worker_heartbeats_last', 'worker_heartbeats', ['last_heartbeat'], unique=False)

    # queue_history is an audit trail: the database itself refuses UPDATE.
    op.execute(
        """
        CREATE FUNCTION queue_history_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'queue_history is append-only';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER queue_history_no_update BEFORE UPDATE ON queue_history "
        "FOR EACH ROW EXECUTE FUNCTION queue_history_append_only()"
    )

def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS queue_history_no_update ON queue_history")
    op.execute("DROP FUNCTION IF EXISTS queue_history_append_only()")
    op.drop_index('ix_worker_heartbeats_last', table_name='worker_heartbeats')
    op.drop_table('worker_heartbeats')
    op.drop_index('ix_queue_history_job', table_name='queue_history')
    op.drop_index('ix_queue_history_created_at', table_name='queue_history')
    op.drop_table('queue_history')
    op.drop_index('ix_job_results_job_status', table_name='job_results')
    op.drop_table('job_results')
    op.drop_index('ix_dead_letters_state_created', table_name='dead_letters')
    op.drop_table('dead_letters')
    op.drop_index('ix_jobs_status_heartbeat', table_name='jobs')
    op.drop_index('ix_jobs_customer', table_name='jobs')
    op.drop_index('ix_jobs_created_at', table_name='jobs')
    op.drop_table('jobs')
    op.drop_index('ix_queue_history_archive_created_at', table_name='queue_history_archive')
    op.drop_table('queue_history_archive')
    op.drop_index('ix_directories_selection', table_name='directories')
    op.drop_table('directories')
    op.drop_table('customers')
    op.drop_table('api_keys')

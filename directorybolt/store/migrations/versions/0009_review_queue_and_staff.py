"""review queue (items for needs_review results) and staff console accounts and sessions

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_items',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('result_id', sa.BigInteger(), nullable=False),
        sa.Column('job_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('directory_id', sa.String(length=120), nullable=False),
        sa.Column('tier', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False, server_default='open'),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_by', sa.String(length=120), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolution', sa.String(length=20), nullable=True),
        sa.Column('evidence_url', sa.String(length=2048), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('resolved_by', sa.String(length=120), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("state IN ('open', 'claimed', 'resolved')", name='ck_review_items_state'),
        sa.CheckConstraint("resolution IS NULL OR resolution IN ('submitted', 'failed', 'retry')",
                           name='ck_review_items_resolution'),
        sa.CheckConstraint("(state = 'resolved') = (resolution IS NOT NULL)", name='ck_review_items_resolved'),
        sa.CheckConstraint("state <> 'claimed' OR (claimed_by IS NOT NULL AND lease_expires_at IS NOT NULL)",
                           name='ck_review_items_claim'),
        sa.ForeignKeyConstraint(['result_id'], ['job_results.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_review_items_unresolved', 'review_items', ['result_id'], unique=True,
                    postgresql_where=sa.text("state <> 'resolved'"))
    op.create_index('ix_review_items_queue', 'review_items', ['state', 'tier', 'opened_at'])
    op.create_index('ix_review_items_job', 'review_items', ['job_id'])
    op.create_index('ix_job_results_needs_review', 'job_results', ['id'],
                    postgresql_where=sa.text("status = 'needs_review'"))

    op.create_table(
        'staff_accounts',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(name) > 0", name='ck_staff_accounts_name'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', name='uq_staff_accounts_name'),
    )
    op.create_table(
        'staff_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.BigInteger(), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_staff_sessions_expires', 'staff_sessions', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_staff_sessions_expires', table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_table('staff_accounts')
    op.drop_index('ix_job_results_needs_review', table_name='job_results')
    op.drop_index('ix_review_items_job', table_name='review_items')
    op.drop_index('ix_review_items_queue', table_name='review_items')
    op.drop_index('uq_review_items_unresolved', table_name='review_items')
    op.drop_table('review_items')

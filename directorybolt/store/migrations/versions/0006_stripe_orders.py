"""paid orders from Stripe: processed events, checkout sessions, jobs held for review or told to stop

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None

_OLD_STATUSES = "status IN ('pending', 'in_progress', 'completed', 'partial', 'failed', 'cancelled')"
_NEW_STATUSES = ("status IN ('pending', 'in_progress', 'completed', 'partial', 'failed', 'cancelled', "
                 "'needs_review')")


def upgrade() -> None:
    op.drop_constraint('ck_jobs_status', 'jobs', type_='check')
    op.create_check_constraint('ck_jobs_status', 'jobs', _NEW_STATUSES)
    op.add_column('jobs', sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('payment_intent', sa.String(length=255), nullable=True),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_stripe_events_payment_intent', 'stripe_events', ['payment_intent'], unique=False)
    op.create_table('stripe_checkouts',
    sa.Column('session_id', sa.String(length=255), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('payment_intent', sa.String(length=255), nullable=True),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('package', sa.String(length=40), nullable=True),
    sa.Column('fast_track', sa.Boolean(), nullable=False),
    sa.Column('amount_total', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=10), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['stripe_events.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('payment_intent')
    )
    op.create_index('ix_stripe_checkouts_job', 'stripe_checkouts', ['job_id'], unique=False)


def downgrade() -> None:
    # A held paid order has no place in the old schema, and neither running it unchecked
    # nor cancelling it is a downgrade's decision.
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM jobs WHERE status = 'needs_review'")).scalar()
    if held:
        raise RuntimeError(f"{held} jobs are held for review: release or cancel them before downgrading")
    op.drop_index('ix_stripe_checkouts_job', table_name='stripe_checkouts')
    op.drop_table('stripe_checkouts')
    op.drop_index('ix_stripe_events_payment_intent', table_name='stripe_events')
    op.drop_table('stripe_events')
    op.drop_column('jobs', 'cancel_requested_at')
    op.drop_constraint('ck_jobs_status', 'jobs', type_='check')
    op.create_check_constraint('ck_jobs_status', 'jobs', _OLD_STATUSES)

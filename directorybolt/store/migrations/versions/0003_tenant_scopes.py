"""tenant scopes and idempotency fingerprints

A producer key sees and enqueues for the customers in its scope: those it created,
and those a staff key granted it (``api_key_customers``). A job remembers a digest
of the request that created it, so reusing an Idempotency-Key for a different
request is refused (409) instead of replaying the first job.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_key_customers',
        sa.Column('api_key_id', sa.BigInteger(), nullable=False),
        sa.Column('customer_id', sa.UUID(), nullable=False),
        sa.Column('granted_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['granted_by'], ['api_keys.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('api_key_id', 'customer_id'),
    )
    op.create_index('ix_api_key_customers_customer', 'api_key_customers', ['customer_id'])
    op.add_column('jobs', sa.Column('request_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('jobs', 'request_fingerprint')
    op.drop_index('ix_api_key_customers_customer', table_name='api_key_customers')
    op.drop_table('api_key_customers')

"""worker heartbeats say what a worker serves (role) and whether its breaker is open (state)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('worker_heartbeats', sa.Column('role', sa.String(length=20), nullable=False,
                                                 server_default='submissions'))
    op.add_column('worker_heartbeats', sa.Column('state', sa.String(length=20), nullable=False,
                                                 server_default='ok'))


def downgrade() -> None:
    op.drop_column('worker_heartbeats', 'state')
    op.drop_column('worker_heartbeats', 'role')

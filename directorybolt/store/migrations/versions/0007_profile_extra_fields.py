"""customers: the profile fields directories ask for besides the core listing

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS: tuple[tuple[str, int], ...] = (
    ("tagline", 200),
    ("contact_name", 200),
    ("country", 120),
    ("logo_url", 2048),
    ("social_facebook", 2048),
    ("social_x", 2048),
    ("social_instagram", 2048),
    ("social_linkedin", 2048),
)


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("customers", sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("customers", name)

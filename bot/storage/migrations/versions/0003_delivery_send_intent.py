"""deliveries.sends / first_send_at: a send intent recorded before calling the platform.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 23:58:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sends", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("first_send_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("first_send_at")
        batch_op.drop_column("sends")

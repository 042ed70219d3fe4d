"""feeds.last_parsed_at: retention keeps entries still present in their feed's latest document.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_parsed_at", sa.DateTime(timezone=True), nullable=True))
    # Existing entries count as present as of their newest sighting.
    op.execute(
        "UPDATE feeds SET last_parsed_at = "
        "(SELECT MAX(e.last_seen_at) FROM entries e WHERE e.feed_id = feeds.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("last_parsed_at")

"""Drop three entry indexes no hot query reads; each cost every insert and last-seen refresh.

- ix_entries_feed_link (feed_id, link_key_hash): ix_entries_link answers the same lookups.
- ix_entries_story (story_key): no query filters entries by story.
- ix_entries_last_seen (last_seen_at): read only by retention, which runs at housekeeping and
  can afford a scan, while every changed poll rewrote it for each item still in the document.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DROPPED = {
    "ix_entries_feed_link": ["feed_id", "link_key_hash"],
    "ix_entries_story": ["story_key"],
    "ix_entries_last_seen": ["last_seen_at"],
}


def upgrade() -> None:
    for name in _DROPPED:
        op.drop_index(name, table_name="entries")


def downgrade() -> None:
    for name, columns in _DROPPED.items():
        op.create_index(name, "entries", columns)

"""channel members: the newest mention of each member, kept by triggers, for the channel list

Revision ID: 20261203_0006
Revises: 20261202_0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261203_0006"
down_revision = "20261202_0005"
branch_labels = None
depends_on = None

# As of this revision; tables/channels.py holds the current DDL (the doctor's fix uses it).
_TRIGGERS = (
    """
    CREATE FUNCTION nchat_member_mention_mark() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.last_mention_id := (
            SELECT message_id FROM nchat_mentions
            WHERE user_id = NEW.user_id AND channel_id = NEW.channel_id
            ORDER BY message_id DESC LIMIT 1
        );
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER nchat_channel_members_mention_mark BEFORE INSERT ON nchat_channel_members
    FOR EACH ROW EXECUTE FUNCTION nchat_member_mention_mark()
    """,
    """
    CREATE FUNCTION nchat_mention_marks_member() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE nchat_channel_members SET last_mention_id = NEW.message_id
        WHERE channel_id = NEW.channel_id AND user_id = NEW.user_id
          AND (last_mention_id IS NULL OR last_mention_id < NEW.message_id);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER nchat_mentions_mark_member AFTER INSERT ON nchat_mentions
    FOR EACH ROW EXECUTE FUNCTION nchat_mention_marks_member()
    """,
)


def upgrade() -> None:
    op.add_column("nchat_channel_members", sa.Column("last_mention_id", sa.UUID(), nullable=True))
    # The triggers first: creating them waits for, then holds off, every write of mentions
    # until this migration commits, so the fill below misses none written meanwhile.
    for statement in _TRIGGERS:
        op.execute(statement)
    op.execute(
        """
        UPDATE nchat_channel_members AS m SET last_mention_id = newest.message_id
        FROM (
            SELECT DISTINCT ON (user_id, channel_id) user_id, channel_id, message_id
            FROM nchat_mentions ORDER BY user_id, channel_id, message_id DESC
        ) AS newest
        WHERE m.user_id = newest.user_id AND m.channel_id = newest.channel_id
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER nchat_mentions_mark_member ON nchat_mentions")
    op.execute("DROP FUNCTION nchat_mention_marks_member()")
    op.execute("DROP TRIGGER nchat_channel_members_mention_mark ON nchat_channel_members")
    op.execute("DROP FUNCTION nchat_member_mention_mark()")
    op.drop_column("nchat_channel_members", "last_mention_id")

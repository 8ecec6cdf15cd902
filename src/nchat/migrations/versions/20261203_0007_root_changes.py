"""messages: which channels' root messages changed, kept by triggers, for the channel list

Revision ID: 20261203_0007
Revises: 20261203_0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261203_0007"
down_revision = "20261203_0006"
branch_labels = None
depends_on = None

# As of this revision; tables/messages.py holds the current DDL (the doctor's fix uses it).
_FUNCTION = """
CREATE FUNCTION nchat_root_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO nchat_root_changes (channel_id) SELECT id FROM nchat_channels;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO nchat_root_changes (channel_id)
        SELECT DISTINCT channel_id FROM inserted WHERE thread_id IS NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO nchat_root_changes (channel_id)
        SELECT DISTINCT channel_id FROM deleted WHERE thread_id IS NULL;
    ELSE
        INSERT INTO nchat_root_changes (channel_id)
        SELECT DISTINCT channel_id
        FROM (VALUES (OLD.channel_id, OLD.thread_id), (NEW.channel_id, NEW.thread_id))
            AS version (channel_id, thread_id)
        WHERE thread_id IS NULL;
    END IF;
    RETURN NULL;
END
$$
"""
_TRIGGERS = {
    # Per statement, with the rows as a table: a bulk load writes a row per channel.
    "nchat_messages_root_inserted": "AFTER INSERT ON nchat_messages "
    "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT",
    "nchat_messages_root_updated": "AFTER UPDATE ON nchat_messages FOR EACH ROW "
    "WHEN ((OLD.thread_id IS NULL OR NEW.thread_id IS NULL) AND "
    "(OLD.channel_id, OLD.thread_id, OLD.user_id, OLD.created_at, OLD.deleted_at) "
    "IS DISTINCT FROM "
    "(NEW.channel_id, NEW.thread_id, NEW.user_id, NEW.created_at, NEW.deleted_at))",
    "nchat_messages_root_deleted": "AFTER DELETE ON nchat_messages "
    "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT",
    "nchat_messages_truncated": "AFTER TRUNCATE ON nchat_messages FOR EACH STATEMENT",
}


def upgrade() -> None:
    op.create_table(
        "nchat_root_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_root_changes")),
    )
    op.create_index(op.f("ix_nchat_root_changes_xid"), "nchat_root_changes", ["xid"])
    op.create_table(
        "nchat_root_changes_pruned",
        sa.Column("one", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("through_xid", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("one", name=op.f("ck_nchat_root_changes_pruned_one_row")),
        sa.PrimaryKeyConstraint("one", name=op.f("pk_nchat_root_changes_pruned")),
    )
    op.execute(_FUNCTION)
    for name, when in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION nchat_root_changed()")


def downgrade() -> None:
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON nchat_messages")
    op.execute("DROP FUNCTION nchat_root_changed()")
    op.drop_table("nchat_root_changes_pruned")
    op.drop_table("nchat_root_changes")

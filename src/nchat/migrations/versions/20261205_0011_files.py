"""files: uploads and their attachment to messages, the queue of objects to remove, and the
`files` section of the app config

Revision ID: 20261205_0011
Revises: 20261204_0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261205_0011"
down_revision = "20261204_0010"
branch_labels = None
depends_on = None

# As of this revision; tables/files.py holds the current DDL (the doctor's fix uses it).
_FUNCTION = """
CREATE FUNCTION nchat_files_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nchat_file_deletions (key)
    SELECT id::text FROM deleted
    UNION ALL SELECT id::text || '.thumbnail' FROM deleted WHERE thumbnail
    UNION ALL SELECT id::text || '.preview' FROM deleted WHERE preview
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""


def _fk(name: str, target: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.UUID(),
        sa.ForeignKey(
            target,
            name=op.f(f"fk_nchat_files_{name}_{target.split('.', maxsplit=1)[0]}"),
            ondelete="CASCADE",
        ),
        nullable=nullable,
    )


def upgrade() -> None:
    # Constant defaults: PostgreSQL adds these columns without rewriting the tables.
    op.add_column(
        "nchat_messages",
        sa.Column(
            "files",
            sa.dialects.postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "nchat_app_config",
        sa.Column(
            "files",
            sa.dialects.postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_table(
        "nchat_files",
        sa.Column("id", sa.UUID(), nullable=False),
        _fk("uploader_id", "nchat_users.id", nullable=False),
        _fk("message_id", "nchat_messages.id", nullable=True),
        _fk("channel_id", "nchat_channels.id", nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("preview", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_nchat_files_size_nonnegative")),
        sa.CheckConstraint(
            "(message_id IS NULL) = (channel_id IS NULL)",
            name=op.f("ck_nchat_files_attached_whole"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_files")),
    )
    op.create_index("ix_nchat_files_message_id", "nchat_files", ["message_id"])
    op.create_index(
        "ix_nchat_files_channel_id_id",
        "nchat_files",
        ["channel_id", "id"],
        postgresql_where=sa.text("channel_id IS NOT NULL"),
    )
    op.create_index(
        "ix_nchat_files_created_at",
        "nchat_files",
        ["created_at"],
        postgresql_where=sa.text("message_id IS NULL"),
    )
    op.create_table(
        "nchat_file_deletions",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_nchat_file_deletions")),
    )
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER nchat_files_deleted AFTER DELETE ON nchat_files "
        "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION nchat_files_deleted()"
    )


def downgrade() -> None:
    # The rows go; their objects stay in the store (the files directory or the bucket), for
    # an operator to keep or remove.
    op.execute("DROP TRIGGER nchat_files_deleted ON nchat_files")
    op.execute("DROP FUNCTION nchat_files_deleted()")
    op.drop_table("nchat_file_deletions")
    op.drop_table("nchat_files")
    op.drop_column("nchat_app_config", "files")
    op.drop_column("nchat_messages", "files")

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

# Derived objects an upload may have beside the original: `<id>.thumbnail`, `<id>.preview`.
VARIANTS = ("thumbnail", "preview")

files = sa.Table(
    "nchat_files",
    metadata,
    uuid_pk(),
    # The object's key in the store is the id (storage/base.py): never the name.
    sa.Column(
        "uploader_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The message that carries the file; NULL until attached (then its channel's).
    sa.Column(
        "message_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_messages.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column(
        "channel_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_channels.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("thumbnail", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("preview", sa.Boolean, nullable=False, server_default=sa.false()),
    created_at(),
    sa.CheckConstraint("size >= 0", name="size_nonnegative"),
    sa.CheckConstraint("(message_id IS NULL) = (channel_id IS NULL)", name="attached_whole"),
    sa.Index("ix_nchat_files_message_id", "message_id"),
    # A channel's files, newest first.
    sa.Index(
        "ix_nchat_files_channel_id_id",
        "channel_id",
        "id",
        postgresql_where=sa.text("channel_id IS NOT NULL"),
    ),
    # Housekeeping's sweep of uploads never attached.
    sa.Index(
        "ix_nchat_files_created_at",
        "created_at",
        postgresql_where=sa.text("message_id IS NULL"),
    ),
)

# Objects whose rows are gone, waiting for housekeeping to remove them from the store. A
# trigger fills it for every deleter (a hard-deleted message cascades to its files, a user
# deleted by an operator, retention), in the deleting transaction: a row never goes without
# its object being queued, and an object is never removed while a row still names it. A
# replaced or removed avatar is queued by users/service.py, in the transaction that
# stops naming it.
file_deletions = sa.Table(
    "nchat_file_deletions",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    created_at(),
)

FILES_DELETED_FUNCTION = """
CREATE OR REPLACE FUNCTION nchat_files_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nchat_file_deletions (key)
    SELECT id::text FROM deleted
    UNION ALL SELECT id::text || '.thumbnail' FROM deleted WHERE thumbnail
    UNION ALL SELECT id::text || '.preview' FROM deleted WHERE preview
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
"""
FILES_DELETED_TRIGGER = (
    "CREATE TRIGGER nchat_files_deleted AFTER DELETE ON nchat_files "
    "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION nchat_files_deleted();"
)
# A trigger missing a while: `nchat storage check` lists the objects it left behind.
files.info["triggers"] = {
    "nchat_files_deleted": (f"{FILES_DELETED_FUNCTION} {FILES_DELETED_TRIGGER}", "SELECT 1")
}

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID

from nchat.tables.channels import MENTION_MARKS_MEMBER, MENTION_MARKS_REFILL
from nchat.tables.meta import created_at, metadata, uuid_pk, writing_xid


def _fk(
    column: str,
    target: str,
    *,
    nullable: bool = False,
    primary_key: bool = False,
    ondelete: str = "CASCADE",
) -> sa.Column[object]:
    return sa.Column(
        column,
        UUID(as_uuid=True),
        sa.ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
        primary_key=primary_key,
    )


# Which channels' root messages changed, kept by PostgreSQL for every writer (an older nchat in
# a rolling upgrade, an operator's SQL, a restore's rows): each process's copy of the newest
# root messages per channel reads from here which channels to forget (decision 0023).
ROOT_CHANGES_FUNCTION = """
CREATE OR REPLACE FUNCTION nchat_root_changed() RETURNS trigger
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
$$;
"""
ROOT_CHANGE_TRIGGERS = {
    # Per statement, with the rows as a table: a bulk load writes a row per channel.
    "nchat_messages_root_inserted": "AFTER INSERT ON nchat_messages "
    "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT",
    # Only what a channel list counts: reply counts and edits do not fire it.
    "nchat_messages_root_updated": "AFTER UPDATE ON nchat_messages FOR EACH ROW "
    "WHEN ((OLD.thread_id IS NULL OR NEW.thread_id IS NULL) AND "
    "(OLD.channel_id, OLD.thread_id, OLD.user_id, OLD.created_at, OLD.deleted_at) "
    "IS DISTINCT FROM "
    "(NEW.channel_id, NEW.thread_id, NEW.user_id, NEW.created_at, NEW.deleted_at))",
    "nchat_messages_root_deleted": "AFTER DELETE ON nchat_messages "
    "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT",
    "nchat_messages_truncated": "AFTER TRUNCATE ON nchat_messages FOR EACH STATEMENT",
}
# A trigger missing a while: every copy forgets every channel.
ROOT_CHANGES_REFILL = "INSERT INTO nchat_root_changes (channel_id) SELECT id FROM nchat_channels"


# Each message's lexemes, for every writer (decision 0034). `nchat_search` is the text search
# configuration the search migration made: the configured language's stemmer, accents folded.
SEARCH_FUNCTION = """
CREATE OR REPLACE FUNCTION nchat_message_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('nchat_search', NEW.text);
    RETURN NEW;
END
$$;
"""
SEARCH_TRIGGER = (
    "CREATE TRIGGER nchat_messages_search BEFORE INSERT OR UPDATE OF text ON nchat_messages "
    "FOR EACH ROW EXECUTE FUNCTION nchat_message_search();"
)


def _root_change_trigger(name: str) -> str:
    when = ROOT_CHANGE_TRIGGERS[name]
    create = f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION nchat_root_changed();"
    return f"{ROOT_CHANGES_FUNCTION} {create}"


messages = sa.Table(
    "nchat_messages",
    metadata,
    uuid_pk(),
    _fk("channel_id", "nchat_channels.id"),
    _fk("user_id", "nchat_users.id"),
    sa.Column("text", sa.Text, nullable=False),
    # The text rendered to sanitised HTML (messages/render.py), written with the text and
    # again on every edit; NULL only for rows written before it was stored, which reads
    # render and housekeeping fills (decision 0035).
    sa.Column("html", sa.Text),
    # The root of the thread this message replies in; NULL for channel-level messages.
    _fk("thread_id", "nchat_messages.id", nullable=True),
    sa.Column("client_id", sa.Text),
    sa.Column("mentions", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # The attached files' records as sent (files/schemas.py FileOut): a file's record never
    # changes after upload, so pages show it without a join.
    sa.Column("files", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    # The text's lexemes for search (stemmed, accents folded), kept by a trigger for every
    # writer; NULL only while a migration fills the rows written before it.
    sa.Column("search", TSVECTOR),
    sa.Column("reply_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_reply_at", sa.DateTime(timezone=True)),
    created_at(),
    sa.Column("edited_at", sa.DateTime(timezone=True)),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("reply_count >= 0", name="reply_count_nonnegative"),
    sa.CheckConstraint("length(text) <= 40000", name="text_length"),
    # History pages and unread counts walk this index backwards from a point.
    # History pages, unread counts and "last message" walk this index from a point; the
    # included columns let unread counts skip the table (index-only scans).
    sa.Index(
        "ix_nchat_messages_channel_root",
        "channel_id",
        "id",
        postgresql_include=["user_id", "deleted_at", "created_at"],
        postgresql_where=sa.text("thread_id IS NULL"),
    ),
    sa.Index(
        "ix_nchat_messages_thread",
        "thread_id",
        "id",
        postgresql_where=sa.text("thread_id IS NOT NULL"),
    ),
    sa.Index("ix_nchat_messages_search", "search", postgresql_using="gin"),
    # A person's messages, newest first: `from:` searches, deleting a user.
    sa.Index("ix_nchat_messages_user_id_id", "user_id", "id"),
    # Substrings, code identifiers and scripts the word search tokenises poorly.
    sa.Index(
        "ix_nchat_messages_text_trgm",
        "text",
        postgresql_using="gin",
        postgresql_ops={"text": "gin_trgm_ops"},
    ),
    # The rows without html, until housekeeping has filled them (decision 0035): empty after
    # that, and rows written with their html never enter it.
    sa.Index("ix_nchat_messages_html_missing", "id", postgresql_where=sa.text("html IS NULL")),
    sa.Index(
        "uq_nchat_messages_user_channel_client_id",
        "user_id",
        "channel_id",
        "client_id",
        unique=True,
        postgresql_where=sa.text("client_id IS NOT NULL"),
    ),
    info={
        "triggers": {
            **{
                name: (_root_change_trigger(name), ROOT_CHANGES_REFILL)
                for name in ROOT_CHANGE_TRIGGERS
            },
            "nchat_messages_search": (
                f"{SEARCH_FUNCTION} {SEARCH_TRIGGER}",
                "UPDATE nchat_messages SET search = to_tsvector('nchat_search', text) "
                "WHERE search IS DISTINCT FROM to_tsvector('nchat_search', text)",
            ),
        }
    },
)

root_changes = sa.Table(
    "nchat_root_changes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    writing_xid(),  # a copy reads the rows its snapshot did not see (decision 0023)
    # No foreign key: a deleted channel's row says so too, and must not block the delete.
    sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
    created_at(),
    sa.Index("ix_nchat_root_changes_xid", "xid"),
)

# The newest transaction whose changes housekeeping removed: a copy whose snapshot is older
# may have missed some and starts again. One row at most.
root_changes_pruned = sa.Table(
    "nchat_root_changes_pruned",
    metadata,
    sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.true()),
    sa.Column("through_xid", sa.BigInteger, nullable=False),
    sa.CheckConstraint("one", name="one_row"),
)

message_edits = sa.Table(
    "nchat_message_edits",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _fk("message_id", "nchat_messages.id"),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column(
        "edited_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("ix_nchat_message_edits_message_id", "message_id", "id"),
)

reactions = sa.Table(
    "nchat_reactions",
    metadata,
    _fk("message_id", "nchat_messages.id", primary_key=True),
    _fk("user_id", "nchat_users.id", primary_key=True),
    sa.Column("emoji", sa.Text, primary_key=True),
    created_at(),
)

pinned_messages = sa.Table(
    "nchat_pinned_messages",
    metadata,
    _fk("message_id", "nchat_messages.id", primary_key=True),
    _fk("channel_id", "nchat_channels.id"),
    _fk("pinned_by", "nchat_users.id", nullable=True, ondelete="SET NULL"),
    sa.Column(
        "pinned_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("ix_nchat_pinned_messages_channel_id", "channel_id", "pinned_at"),
)

bookmarks = sa.Table(
    "nchat_bookmarks",
    metadata,
    _fk("user_id", "nchat_users.id", primary_key=True),
    _fk("message_id", "nchat_messages.id", primary_key=True),
    created_at(),
    sa.Index("ix_nchat_bookmarks_user_created", "user_id", "created_at"),
)

mentions = sa.Table(
    "nchat_mentions",
    metadata,
    _fk("message_id", "nchat_messages.id", primary_key=True),
    _fk("user_id", "nchat_users.id", primary_key=True),
    _fk("channel_id", "nchat_channels.id"),
    created_at(),
    # Mention counts per channel since the read marker, and "my recent mentions".
    sa.Index("ix_nchat_mentions_user_channel_message", "user_id", "channel_id", "message_id"),
    sa.Index("ix_nchat_mentions_user_message", "user_id", "message_id"),
    info={"triggers": {"nchat_mentions_mark_member": (MENTION_MARKS_MEMBER, MENTION_MARKS_REFILL)}},
)

thread_followers = sa.Table(
    "nchat_thread_followers",
    metadata,
    _fk("message_id", "nchat_messages.id", primary_key=True),
    _fk("user_id", "nchat_users.id", primary_key=True),
    created_at(),
    sa.Index("ix_nchat_thread_followers_user_id", "user_id"),
)

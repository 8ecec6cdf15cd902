"""The search migration on a table that already holds messages: it fills them in, its indexes
end up valid, and it can be run again after being cut off."""

from __future__ import annotations

from nchat.db import migrate
from tests.db import fetch, fresh_database, sql

ROWS = """
INSERT INTO nchat_users (id, username, email, display_name, password_hash, role)
VALUES ('0193a0c4-0000-7000-8000-000000000001', 'ada', 'ada@example.com', 'Ada', 'x', 'owner');
INSERT INTO nchat_channels (id, type, name, created_by)
VALUES ('0193a0c4-0000-7000-8000-0000000000c1', 'public', 'general',
        '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_messages (id, channel_id, user_id, text)
SELECT ('0193a0c4-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
       '0193a0c4-0000-7000-8000-0000000000c1', '0193a0c4-0000-7000-8000-000000000001',
       'message number ' || n || CASE WHEN n % 7 = 0 THEN ' about deployments' ELSE '' END
FROM generate_series(1, 25000) AS n;
"""
BEFORE_SEARCH = "20261205_0011"
VALID = """
SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname IN ('ix_nchat_messages_search', 'ix_nchat_messages_text_trgm') ORDER BY 1
"""


def test_existing_messages_become_searchable(server_url: str) -> None:
    with fresh_database(server_url, migrated=False) as url:
        migrate.upgrade(url, BEFORE_SEARCH)
        sql(url, ROWS)  # more than one batch of the backfill
        migrate.upgrade(url)
        assert fetch(url, "SELECT count(*) FROM nchat_messages WHERE search IS NULL") == [(0,)]
        found = fetch(
            url,
            "SELECT count(*) FROM nchat_messages "
            "WHERE search @@ plainto_tsquery('nchat_search', 'deployment')",
        )
        assert found == [(25000 // 7,)]
        assert fetch(url, VALID) == [
            ("ix_nchat_messages_search", True),
            ("ix_nchat_messages_text_trgm", True),
        ]


def test_a_run_cut_off_after_its_first_commit_is_finished_by_running_it_again(
    server_url: str,
) -> None:
    with fresh_database(server_url, migrated=False) as url:
        migrate.upgrade(url, BEFORE_SEARCH)
        sql(url, ROWS)
        migrate.upgrade(url)
        # As a run stopped during its index builds leaves it: the column and the trigger
        # there, some rows filled, an index invalid, the revision not recorded.
        sql(
            url,
            """
            UPDATE nchat_messages SET search = NULL WHERE text LIKE '%5';
            DROP INDEX ix_nchat_messages_text_trgm;
            UPDATE pg_index SET indisvalid = false
              WHERE indexrelid = 'ix_nchat_messages_search'::regclass;
            UPDATE alembic_version SET version_num = '20261205_0011';
            DELETE FROM schema_migrations WHERE version = '20261205_0012';
            """,
        )
        migrate.upgrade(url)
        assert fetch(url, "SELECT count(*) FROM nchat_messages WHERE search IS NULL") == [(0,)]
        assert fetch(url, VALID) == [
            ("ix_nchat_messages_search", True),
            ("ix_nchat_messages_text_trgm", True),
        ]
        assert migrate.current(url) == migrate.head()

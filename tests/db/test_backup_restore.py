"""`nchat db backup` / `nchat db restore`: every format round-trips every row; restore guards
non-empty databases, asks before it acts, and changes nothing when it fails."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nchat.tables import metadata
from tests.db import UNREACHABLE_URL, cli, fetch, fresh_database, run_nchat, snapshot, sql

# Text that breaks naive dump formats: tabs, newlines, backslashes, quotes, non-ASCII, NULLs.
SEED = r"""
INSERT INTO nchat_users (id, username, email, display_name, password_hash, role, locale,
                         status_text, deleted_at)
VALUES ('0193a0c4-0000-7000-8000-000000000001', 'ada', 'ada@example.com', 'Ada Lovelace',
        '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'owner', 'en_GB',
        E'tab\there\nnew line \\ backslash ''quoted'' ✓ 日本語', NULL),
       ('0193a0c4-0000-7000-8000-000000000002', 'bob', 'bob@example.com', '', 'x', 'member',
        NULL, NULL, '2026-01-02T03:04:05.123456Z');
INSERT INTO nchat_sessions (id, user_id, refresh_hash, generation, user_agent, ip, expires_at)
VALUES ('0193a0c4-0000-7000-8000-0000000000a1', '0193a0c4-0000-7000-8000-000000000001',
        'sha256:abc', 3, 'Mozilla/5.0 "quoted"', '192.0.2.1', '2030-01-01T00:00:00Z');
UPDATE nchat_app_config
   SET branding = '{"name": "Team \"chat\"", "colors": {"primary": "#123456"}}',
       mobile = '{"offlineCache": {"enabled": true, "maxMessages": 1000}}';
INSERT INTO nchat_audit_log (actor_id, action, target_type, target_id, ip, details)
VALUES ('0193a0c4-0000-7000-8000-000000000001', 'user.create', 'user',
        '0193a0c4-0000-7000-8000-000000000002', '192.0.2.1', '{"role": "member"}'),
       (NULL, 'setup.complete', NULL, NULL, NULL, '{}'),
       (NULL, 'to.be.deleted', NULL, NULL, NULL, '{"n": [1, 2, 3]}');
-- The identity sequence must come back at 3, not at the row count.
DELETE FROM nchat_audit_log WHERE action = 'to.be.deleted';
INSERT INTO nchat_login_failures (account, ip)
VALUES ('mallory', '203.0.113.9'), ('mallory', '203.0.113.9');
INSERT INTO nchat_login_addresses (user_id, address)
VALUES ('0193a0c4-0000-7000-8000-000000000001', '2001:db8:1:2::/64');
INSERT INTO nchat_channels (id, type, name, topic, created_by)
VALUES ('0193a0c4-0000-7000-8000-0000000000c1', 'public', 'general', 'all ''things''',
        '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_channels (id, type, dm_key)
VALUES ('0193a0c4-0000-7000-8000-0000000000c2', 'direct',
        'direct:0193a0c4-0000-7000-8000-000000000001,0193a0c4-0000-7000-8000-000000000002');
INSERT INTO nchat_channel_members (channel_id, user_id, role, last_read_id)
VALUES ('0193a0c4-0000-7000-8000-0000000000c1', '0193a0c4-0000-7000-8000-000000000001', 'admin',
        '0193a0c4-0000-7000-8000-0000000000d1'),
       ('0193a0c4-0000-7000-8000-0000000000c2', '0193a0c4-0000-7000-8000-000000000002', 'member',
        NULL);
INSERT INTO nchat_messages (id, channel_id, user_id, text, thread_id, client_id, mentions,
                            reply_count)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-0000000000c1',
        '0193a0c4-0000-7000-8000-000000000001', E'hello @bob\n**bold** ✓', NULL, 'c-1',
        '{"user_ids": ["0193a0c4-0000-7000-8000-000000000002"]}', 1),
       ('0193a0c4-0000-7000-8000-0000000000d2', '0193a0c4-0000-7000-8000-0000000000c1',
        '0193a0c4-0000-7000-8000-000000000002', 'a reply', '0193a0c4-0000-7000-8000-0000000000d1',
        NULL, '{}', 0);
INSERT INTO nchat_root_changes_pruned (through_xid) VALUES (1);
INSERT INTO nchat_message_edits (message_id, text)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', 'hello');
INSERT INTO nchat_reactions (message_id, user_id, emoji)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-000000000002', ':tada:');
INSERT INTO nchat_pinned_messages (message_id, channel_id, pinned_by)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-0000000000c1',
        '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_bookmarks (user_id, message_id)
VALUES ('0193a0c4-0000-7000-8000-000000000002', '0193a0c4-0000-7000-8000-0000000000d1');
INSERT INTO nchat_mentions (message_id, user_id, channel_id)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-000000000002',
        '0193a0c4-0000-7000-8000-0000000000c1');
INSERT INTO nchat_events (type, channel_id, user_id, data)
VALUES ('message.created', '0193a0c4-0000-7000-8000-0000000000c1',
        '0193a0c4-0000-7000-8000-000000000001', '{"id": "0193a0c4-0000-7000-8000-0000000000d1"}');
INSERT INTO nchat_sync_ops (user_id, client_op_id, type, status, result)
VALUES ('0193a0c4-0000-7000-8000-000000000002', 'phone-1', 'channel.join', 'applied', NULL);
INSERT INTO nchat_presence (connection_id, user_id, status)
VALUES ('0193a0c4-0000-7000-8000-0000000000e1', '0193a0c4-0000-7000-8000-000000000001', 'dnd');
INSERT INTO nchat_thread_followers (message_id, user_id)
VALUES ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-000000000002');
INSERT INTO nchat_rate_limits (key, tat)
VALUES ('send:0193a0c4-0000-7000-8000-000000000001', '2030-01-01T00:00:00+00:00');
INSERT INTO nchat_files (id, uploader_id, message_id, channel_id, name, size, content_type, sha256)
VALUES ('0193a0c4-0000-7000-8000-0000000000f1', '0193a0c4-0000-7000-8000-000000000001',
        '0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-0000000000c1',
        'notes.txt', 5, 'text/plain; charset=utf-8', 'a' || repeat('0', 63));
INSERT INTO nchat_file_deletions (key) VALUES ('0193a0c4-0000-7000-8000-0000000000f2');
INSERT INTO nchat_push_devices (id, user_id, device_id, platform, session_id, endpoint, p256dh,
                                auth)
VALUES ('0193a0c4-0000-7000-8000-0000000000b1', '0193a0c4-0000-7000-8000-000000000001',
        'laptop', 'webpush', '0193a0c4-0000-7000-8000-0000000000a1',
        'https://push.example.com/s/1', 'BPk', 'YXV0aA');
INSERT INTO nchat_notification_settings (user_id, level, dnd_enabled, dnd_start, dnd_end,
                                         dnd_timezone)
VALUES ('0193a0c4-0000-7000-8000-000000000001', 'all', true, '22:00', '07:30',
        'Europe/Paris');
INSERT INTO nchat_channel_notification_settings (user_id, channel_id, muted)
VALUES ('0193a0c4-0000-7000-8000-000000000002', '0193a0c4-0000-7000-8000-0000000000c1', true);
INSERT INTO nchat_notifications (user_id, message_id, channel_id, reason, push_state,
                                 push_due_at, email_state, email_due_at)
VALUES ('0193a0c4-0000-7000-8000-000000000002', '0193a0c4-0000-7000-8000-0000000000d1',
        '0193a0c4-0000-7000-8000-0000000000c1', 'mention', 'pending', '2030-01-01T00:00:00Z',
        'none', '2030-01-01T00:10:00Z');
INSERT INTO nchat_maintenance (message, allow_admins, retry_after_s, started_by)
VALUES ('Upgrading: back at 10:00 "UTC"', true, 120, '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_config_versions (version, config, changes, action, actor_id)
VALUES (1, '{"branding": {"app_name": "Team"}}', '{"branding.app_name": {"before": "nchat"}}',
        'config.updated', '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_retention_policy (message_days, updated_by)
VALUES (365, '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_channel_retention (channel_id, message_days, include_pinned)
VALUES ('0193a0c4-0000-7000-8000-0000000000c1', NULL, true);
INSERT INTO nchat_exports (id, user_id, requested_by, status, key, size, finished_at,
                          expires_at)
VALUES ('0193a0c4-0000-7000-8000-0000000000e9', '0193a0c4-0000-7000-8000-000000000002',
        '0193a0c4-0000-7000-8000-000000000001', 'ready',
        'exports/0193a0c4-0000-7000-8000-0000000000e9.zip', 1234, '2030-01-01T00:00:00Z',
        '2030-01-08T00:00:00Z');
-- The job queue's rows go with the backup too: a job waiting for its time is not lost.
INSERT INTO procrastinate_workers DEFAULT VALUES;
INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)
VALUES ('notifications', 'push_message', '{"message_id": "x"}', '2030-01-01T00:00:00Z');
INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, periodic_id)
VALUES ('rescue', 1, '');
"""


JOB_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_workers",
    "procrastinate_periodic_defers",
)


@pytest.fixture(scope="module")
def source(server_url: str) -> Iterator[tuple[str, dict[str, tuple[Any, ...]]]]:
    """A migrated database with rows in every table, and its snapshot."""
    with fresh_database(server_url) as url:
        sql(url, SEED)
        yield url, snapshot(url)


@pytest.fixture
def empty(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, migrated=False) as url:
        yield url


def test_source_has_rows_in_every_table(source: tuple[str, dict[str, tuple[Any, ...]]]) -> None:
    _, state = source
    tables = {*metadata.tables, *JOB_TABLES, "schema_migrations", "alembic_version"}
    assert {k.removeprefix("table ") for k in state if k.startswith("table ")} == tables
    assert all(state[f"table {t}"][0] > 0 for t in tables)
    assert state["sequence nchat_audit_log_id_seq"] == (3,)


def _backup(url: str, path: Path, *options: str) -> None:
    result = cli(url, "backup", "-o", str(path), *options)
    assert result.exit_code == 0, result.output
    assert f"Backup written to {path}" in result.stdout
    assert not path.with_name(path.name + ".partial").exists()


@pytest.mark.parametrize(
    ("options", "name", "magic"),
    [
        ((), "b.sql", b"--\n-- PostgreSQL database dump"),
        (("--gzip",), "b.sql.gz", b"\x1f\x8b"),
        (("--format", "custom"), "b.dump", b"PGDMP"),
        (("--format", "custom", "--gzip"), "b.dump.gz", b"\x1f\x8b"),
    ],
    ids=["plain", "plain-gzip", "custom", "custom-gzip"],
)
def test_round_trip_restores_every_row(
    source: tuple[str, dict[str, tuple[Any, ...]]],
    empty: str,
    tmp_path: Path,
    options: tuple[str, ...],
    name: str,
    magic: bytes,
) -> None:
    url, before = source
    path = tmp_path / name
    _backup(url, path, *options)
    assert path.read_bytes().startswith(magic)
    assert path.stat().st_mode & 0o777 == 0o600  # password hashes: owner only

    result = cli(empty, "restore", str(path), "--yes")

    assert result.exit_code == 0, result.output
    assert snapshot(empty) == before
    assert re.search(r"^\| nchat_users +\| 2 +\|$", result.stdout, re.MULTILINE)
    assert re.search(r"^\| nchat_audit_log +\| 2 +\|$", result.stdout, re.MULTILINE)
    # The restored identity sequence continues after the last id ever used.
    sql(empty, "INSERT INTO nchat_audit_log (action) VALUES ('after.restore')")
    assert fetch(empty, "SELECT max(id) FROM nchat_audit_log") == [(4,)]


def test_real_executable_backs_up_to_a_default_name_and_restores(
    source: tuple[str, dict[str, tuple[Any, ...]]], empty: str, tmp_path: Path
) -> None:
    url, before = source
    backup = run_nchat(url, "backup", "--gzip", cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    [path] = tmp_path.iterdir()
    assert re.fullmatch(r"nchat-backup-\d{8}-\d{6}\.sql\.gz", path.name)
    with gzip.open(path, "rt") as fh:
        assert "CREATE TABLE public.nchat_users" in fh.read()

    restore = run_nchat(empty, "restore", str(path), "--yes")

    assert restore.returncode == 0, restore.stderr
    assert f"Restored {path} (plain SQL, gzip)" in restore.stdout
    assert snapshot(empty) == before


@pytest.fixture(scope="module")
def plain_backup(
    source: tuple[str, dict[str, tuple[Any, ...]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("backup") / "source.sql"
    _backup(source[0], path)
    return path


@pytest.fixture
def occupied(server_url: str) -> Iterator[str]:
    """A migrated database holding data of its own, which a restore must not lose."""
    with fresh_database(server_url) as url:
        sql(
            url,
            "INSERT INTO nchat_users (id, username, email, password_hash) VALUES "
            "('0193a0c4-0000-7000-8000-00000000beef', 'keep', 'keep@example.com', 'x')",
        )
        yield url


def test_restore_refuses_a_non_empty_database_without_force(
    occupied: str, plain_backup: Path
) -> None:
    before = snapshot(occupied)

    result = cli(occupied, "restore", str(plain_backup), "--yes")

    assert result.exit_code == 1
    assert "not empty" in result.output and "--force" in result.output
    assert snapshot(occupied) == before


def test_restore_with_force_replaces_the_contents(
    occupied: str, plain_backup: Path, source: tuple[str, dict[str, tuple[Any, ...]]]
) -> None:
    result = cli(occupied, "restore", str(plain_backup), "--yes", "--force")

    assert result.exit_code == 0, result.output
    assert snapshot(occupied) == source[1]
    assert fetch(occupied, "SELECT count(*) FROM nchat_users WHERE username = 'keep'") == [(0,)]


def test_restore_asks_and_refuses_without_a_terminal(empty: str, plain_backup: Path) -> None:
    result = cli(empty, "restore", str(plain_backup))
    child = run_nchat(empty, "restore", str(plain_backup))

    assert result.exit_code == 2 and child.returncode == 2
    assert "--yes" in result.output and "--yes" in child.stderr
    assert snapshot(empty) == {}


def test_a_failing_restore_changes_nothing_even_with_force(
    occupied: str, plain_backup: Path, tmp_path: Path
) -> None:
    before = snapshot(occupied)
    text = plain_backup.read_text()
    end = text.index("-- PostgreSQL database dump complete")
    broken = tmp_path / "broken.sql"
    broken.write_text(text[:end] + "SELECT 1 / 0;\n" + text[end:])

    result = cli(occupied, "restore", str(broken), "--yes", "--force")

    assert result.exit_code == 1
    assert "division by zero" in result.output
    assert snapshot(occupied) == before


@pytest.mark.parametrize("where", ["sql", "gzip stream"])
def test_a_truncated_dump_is_not_restored(
    empty: str, plain_backup: Path, tmp_path: Path, where: str
) -> None:
    text = plain_backup.read_text()
    cut = tmp_path / "cut.sql.gz"
    if where == "sql":
        # A complete gzip of SQL cut short after the tables: psql alone would commit those.
        with gzip.open(cut, "wt") as fh:
            fh.write(text[: text.index("COPY public.nchat_users")])
    else:
        whole = gzip.compress(text.encode())
        cut.write_bytes(whole[: len(whole) * 2 // 3])

    result = cli(empty, "restore", str(cut), "--yes")

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert ("truncated" if where == "sql" else "cannot read the dump") in result.output
    assert snapshot(empty) == {}


def test_backup_of_an_unreachable_database_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "never.sql"
    result = cli(UNREACHABLE_URL, "backup", "-o", str(path))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "pg_dump failed" in result.output
    assert "s3cret-pw" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_backup_does_not_overwrite_an_existing_file(
    source: tuple[str, dict[str, tuple[Any, ...]]], tmp_path: Path
) -> None:
    path = tmp_path / "taken.sql"
    path.write_text("an older backup")

    result = cli(source[0], "backup", "-o", str(path))

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert path.read_text() == "an older backup"

"""A fast bulk seeder: users, channels, memberships, messages, mentions and read markers made
by set-based SQL inside PostgreSQL (a million messages in well under a minute)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from nchat.auth.passwords import hash_password_sync
from nchat.db.engine import libpq_url

# Ids are UUIDv7 built from a millisecond clock, so they sort like the server's own ids.
UUID7 = """
CREATE OR REPLACE FUNCTION pg_temp.u7(ms bigint, salt text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
  SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8'
          || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid
  FROM (SELECT lpad(to_hex(ms), 12, '0') AS h, md5(salt) AS r) AS x
$$
"""
BASE_MS = 1_767_225_600_000  # 2026-01-01


@dataclass(frozen=True)
class Size:
    users: int
    channels: int
    messages: int
    main_user_channels: int
    unread_per_channel: int = 10


FULL = Size(users=1_000, channels=1_000, messages=1_000_000, main_user_channels=500)
QUICK = Size(users=100, channels=100, messages=20_000, main_user_channels=50)

# Words for search: each message is "message <i> about the <topic> <subject> with some
# **markdown** text, like people write", its topic and subject picked by a hash of i from
# 20 each (independently, so each word is in about 5% of messages and a topic-subject pair
# in about 0.25%); exactly RARE_EACH messages (scattered by a permutation of i) also end in
# one of the rare words, whatever the size.
TOPICS = (
    "deploy", "release", "budget", "invoice", "sprint", "roadmap", "incident", "hiring",
    "launch", "migration", "backup", "pricing", "security", "onboarding", "analytics",
    "design", "support", "travel", "payroll", "compliance",
)  # fmt: skip
SUBJECTS = (
    "review", "meeting", "plan", "report", "update", "draft", "question", "checklist",
    "ticket", "schedule", "summary", "proposal", "estimate", "demo", "retro", "feedback",
    "deadline", "notes", "status", "workshop",
)  # fmt: skip
RARE_WORDS = (
    "zephyr", "quokka", "xylophone", "kumquat", "gazebo", "marzipan", "obsidian", "walrus",
    "fjord", "nebula",
)  # fmt: skip
RARE_EACH = 5
# A prime: i * SCATTER mod M is a permutation of the messages (for M not a multiple of it).
SCATTER = 104_729


async def seed(url: str, size: Size, password: str) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(UUID7)
        await conn.execute("SET synchronous_commit = off")
        params = {
            "U": size.users,
            "C": size.channels,
            "M": size.messages,
            "K": size.main_user_channels,
            "R": size.unread_per_channel,
        }
        for statement in _statements(hash_password_sync(password)):
            await conn.execute(statement.format(**params, **_words(), B=BASE_MS))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _statements(password_hash: str) -> list[str]:
    return [
        f"""INSERT INTO nchat_users (id, username, email, display_name, password_hash, role)
            SELECT pg_temp.u7({{B}} + i, 'u' || i), 'user' || i, 'user' || i || '@example.com',
                   'User ' || i, '{password_hash}', CASE WHEN i = 1 THEN 'owner' ELSE 'member' END
            FROM generate_series(1, {{U}}) AS i""",
        """UPDATE nchat_app_config SET setup = '{{"completed": true}}'""",
        # Half the channels user1 is not in are private: searches and the channel browser
        # must leave them out.
        """INSERT INTO nchat_channels (id, type, name, created_by)
           SELECT pg_temp.u7({B} + c, 'c' || c),
                  CASE WHEN c >= {K} AND c % 2 = 1 THEN 'private' ELSE 'public' END,
                  'ch-' || c, pg_temp.u7({B} + 1, 'u1')
           FROM generate_series(0, {C} - 1) AS c""",
        # user1 is in K channels; everyone else in about 5% of them.
        """INSERT INTO nchat_channel_members (channel_id, user_id)
           SELECT pg_temp.u7({B} + c, 'c' || c), pg_temp.u7({B} + u, 'u' || u)
           FROM generate_series(0, {C} - 1) AS c, generate_series(1, {U}) AS u
           WHERE (u = 1 AND c < {K}) OR (u > 1 AND abs(hashint4(u * 100003 + c)) % 20 = 0)""",
        """UPDATE nchat_channels AS c SET member_count =
             (SELECT count(*) FROM nchat_channel_members AS m WHERE m.channel_id = c.id)""",
        # Through the search trigger, as any writer: each row's lexemes and both GIN indexes.
        # With the html the server would render, so history reads measure no rendering
        # (tests/messaging/test_render.py checks it against messages/render.py).
        """INSERT INTO nchat_messages (id, channel_id, user_id, text, html, created_at)
           SELECT pg_temp.u7({B} + i * 10, 'm' || i), pg_temp.u7({B} + i % {C}, 'c' || (i % {C})),
                  pg_temp.u7({B} + 1 + (i * 7919) % {U}, 'u' || (1 + (i * 7919) % {U})),
                  t.body,
                  '<p>' || replace(t.body, '**markdown**', '<strong>markdown</strong>') || '</p>',
                  to_timestamp(({B} + i * 10) / 1000.0)
           FROM generate_series(1::bigint, {M}) AS i,
                LATERAL (SELECT hashint8(i)::bigint & 2147483647 AS h,
                                (i * {SCATTER}) % {M} AS r) AS x,
                LATERAL (SELECT 'message ' || i || ' about the ' || ({TOPICS})[1 + h % {NT}] || ' '
                  || ({SUBJECTS})[1 + (h / {NT}) % {NS}]
                  || ' with some **markdown** text, like people write'
                  || CASE WHEN r < {NR} * {RE} THEN ' ' || ({RARE})[1 + r / {RE}] ELSE '' END
                  AS body) AS t""",
        """INSERT INTO nchat_mentions (message_id, user_id, channel_id)
           SELECT pg_temp.u7({B} + i * 10, 'm' || i), pg_temp.u7({B} + 1, 'u1'),
                  pg_temp.u7({B} + i % {C}, 'c' || (i % {C}))
           FROM generate_series(1::bigint, {M}) AS i
           WHERE i % 50 = 0 AND i % {C} < {K}""",
        # user1 has read all but the last R messages of each of their channels.
        """UPDATE nchat_channel_members AS m
           SET last_read_id = pg_temp.u7({B} + i * 10, 'm' || i)
           FROM (SELECT c, ({M} / {C} - {R}) * {C} + c AS i
                 FROM generate_series(0, {K} - 1) AS c) AS r
           WHERE m.user_id = pg_temp.u7({B} + 1, 'u1')
             AND m.channel_id = pg_temp.u7({B} + r.c, 'c' || r.c)""",
    ]


def _words() -> dict[str, object]:
    def array(words: tuple[str, ...]) -> str:
        return "ARRAY[" + ", ".join(f"'{w}'" for w in words) + "]"

    return {
        "TOPICS": array(TOPICS),
        "SUBJECTS": array(SUBJECTS),
        "RARE": array(RARE_WORDS),
        "NT": len(TOPICS),
        "NS": len(SUBJECTS),
        "NR": len(RARE_WORDS),
        "RE": RARE_EACH,
        "SCATTER": SCATTER,
    }

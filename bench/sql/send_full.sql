-- Every statement one nchat send runs (read off the server's statement log): the session
-- check, the channel with the caller's membership, the message insert and its event.
-- Variables: :session, :user, :channel (uuids), {uuid} (the server's uuid function, filled in by the harness).
\set n random(1, 2000000000)
BEGIN;
SELECT u.* FROM nchat_users u JOIN nchat_sessions s ON s.user_id = u.id
  WHERE s.id = :session AND u.id = :user AND s.revoked_at IS NULL
    AND s.expires_at > now() AND u.deleted_at IS NULL AND u.is_active;
SELECT c.*, m.role, m.last_read_id, m.user_id, m.joined_at
  FROM nchat_channels c
  LEFT JOIN nchat_channel_members m ON m.channel_id = c.id AND m.user_id = :user
  WHERE c.id = :channel;
INSERT INTO nchat_messages (id, channel_id, user_id, text, mentions)
  VALUES ({uuid}, :channel, :user, 'pgbench ' || :n, '{"here": false, "channel": false, "user_ids": []}');
INSERT INTO nchat_events (type, channel_id, user_id, data)
  VALUES ('message.created', :channel, :user, '{"text": "pgbench", "reactions": [], "pinned": false}');
END;

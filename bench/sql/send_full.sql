-- Every statement of an nchat send whose session and channel access the process does not
-- remember yet (read off the server's statement log): the session check, the sender's
-- volume budget, the channel with the caller's membership, then the message, its mentions
-- (none here) and its event in one statement. Remembered, a send is the budget and that last
-- statement alone (send_writes). No BEGIN/COMMIT: the server sends none either.
-- Variables: :session, :user, :channel (uuids), {uuid} (the server's uuid function, filled in by the harness).
\set n random(1, 2000000000)
SELECT u.* FROM nchat_users u JOIN nchat_sessions s ON s.user_id = u.id
  WHERE s.id = :session AND u.id = :user AND s.revoked_at IS NULL
    AND s.expires_at > now() AND u.deleted_at IS NULL AND u.is_active;
-- The sender's volume budget (limits/postgres.py) at the bench's settings: one microsecond
-- per send against a 60 s window, so never refused. Keyed per pgbench client, as the HTTP
-- load's connections send as different users.
INSERT INTO nchat_rate_limits (key, tat) VALUES ('send:' || :user || ':' || :client_id, now() + interval '1 microsecond')
  ON CONFLICT (key) DO UPDATE SET tat = greatest(nchat_rate_limits.tat, now()) + interval '1 microsecond'
  WHERE greatest(nchat_rate_limits.tat, now()) + interval '1 microsecond' - now() <= interval '60 seconds'
  RETURNING tat;
SELECT c.*, m.role, m.last_read_id, m.user_id, m.joined_at
  FROM nchat_channels c
  LEFT JOIN nchat_channel_members m ON m.channel_id = c.id AND m.user_id = :user
  WHERE c.id = :channel;
WITH new_message AS (
  INSERT INTO nchat_messages (id, channel_id, user_id, text, thread_id, client_id, mentions, created_at)
  SELECT {uuid}, :channel, :user, 'pgbench ' || :n, NULL, NULL,
         '{"here": false, "channel": false, "user_ids": []}', now()
  WHERE EXISTS (
    SELECT 1 FROM nchat_channel_members m JOIN nchat_channels c ON c.id = m.channel_id
    WHERE m.channel_id = :channel AND m.user_id = :user AND m.role = 'member'
      AND c.type = 'public' AND c.archived_at IS NULL AND c.read_only IS false)
  ON CONFLICT (user_id, channel_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
  RETURNING id, channel_id, user_id
), new_mentions AS (
  INSERT INTO nchat_mentions (message_id, user_id, channel_id)
  SELECT id, unnest('{}'::uuid[]), channel_id FROM new_message
)
INSERT INTO nchat_events (type, channel_id, user_id, data)
  SELECT 'message.created', channel_id, user_id, '{"text": "pgbench", "reactions": [], "pinned": false}'
  FROM new_message RETURNING id;

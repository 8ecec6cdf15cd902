-- The writes of one nchat send, in one transaction: the message row and its event row.
-- Variables: :user, :channel (uuids), {uuid} (the server's uuid function, filled in by the harness).
\set n random(1, 2000000000)
BEGIN;
INSERT INTO nchat_messages (id, channel_id, user_id, text, mentions)
  VALUES ({uuid}, :channel, :user, 'pgbench ' || :n, '{"here": false, "channel": false, "user_ids": []}');
INSERT INTO nchat_events (type, channel_id, user_id, data)
  VALUES ('message.created', :channel, :user, '{"text": "pgbench", "reactions": [], "pinned": false}');
END;

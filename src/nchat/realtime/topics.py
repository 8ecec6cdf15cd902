"""Names shared by the event log, the bus and the request boundary."""

EVENTS = "nchat_events"  # bus topic: new events were committed (a wake-up, no payload)
EPHEMERAL = "nchat_ephemeral"  # bus topic: typing signals and the like, never stored
# Set in a connection's `info` by a transaction that wrote events, so the request boundary
# wakes the hubs after commit.
WROTE_EVENTS = "nchat.wrote_events"
# Set in a connection's `info` (a set of user ids) by a transaction that revokes sessions or
# changes users, so the request boundary clears the session caches after commit.
AUTH_CHANGED = "nchat.auth_changed"

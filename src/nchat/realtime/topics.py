"""The bus topics every process listens to."""

EVENTS = "nchat_events"  # bus topic: new events were committed (a wake-up, no payload)
EPHEMERAL = "nchat_ephemeral"  # bus topic: typing signals and the like, never stored

from __future__ import annotations

import sqlalchemy as sa

from nchat.tables.meta import metadata

# UNLOGGED: budgets change on every send and are worth nothing after a crash, so they are
# not written to the WAL (nor replicated); a crash forgets them, and everyone starts afresh.
rate_limits = sa.Table(
    "nchat_rate_limits",
    metadata,
    # `<rule>:<user id>`
    sa.Column("key", sa.Text, primary_key=True),
    # GCRA's theoretical arrival time: the budget is whole again from this instant on.
    sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
    prefixes=["UNLOGGED"],
)

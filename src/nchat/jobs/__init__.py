"""The background job queue (procrastinate on nchat's PostgreSQL) and the worker that runs it
in `nchat serve` and `nchat worker`."""

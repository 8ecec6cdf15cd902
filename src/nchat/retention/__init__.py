"""Message retention: how long messages (and their files) are kept, and the job that
deletes what is older (decision 0055)."""

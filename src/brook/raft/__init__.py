"""brook.raft."""

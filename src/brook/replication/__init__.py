"""brook.replication."""

"""brook.records."""

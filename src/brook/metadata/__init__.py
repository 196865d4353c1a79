"""brook.metadata."""

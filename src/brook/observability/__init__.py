"""brook.observability."""

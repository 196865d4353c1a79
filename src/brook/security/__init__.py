"""brook.security."""

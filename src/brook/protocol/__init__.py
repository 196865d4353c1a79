"""brook.protocol."""

"""brook.storage."""

"""brook.broker."""

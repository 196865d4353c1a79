"""brook.broker.handlers."""

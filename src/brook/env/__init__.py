"""brook.env."""

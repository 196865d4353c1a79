"""brook.testing."""

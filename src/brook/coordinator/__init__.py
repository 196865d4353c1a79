"""brook.coordinator."""

"""brook.cli."""

"""laser."""

"""merlin."""

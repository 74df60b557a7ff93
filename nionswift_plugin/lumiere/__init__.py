"""lumiere."""

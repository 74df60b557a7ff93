"""eegs."""

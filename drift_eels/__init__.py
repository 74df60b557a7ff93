"""drift_eels."""

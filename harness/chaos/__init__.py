"""Faults under load: ``mailstack chaos``."""

"""Metrics from a Prometheus server: its HTTP API read into types (``prometheus``), and a run's
window of server-side series (``window``), for the bench and fleet reports and the lab's checks."""

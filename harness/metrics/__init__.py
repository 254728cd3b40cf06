"""Metrics from a Prometheus server: its HTTP API read into types (series, targets), for the
bench report's plots and the lab's checks."""

from __future__ import annotations

from harness.metrics.prometheus import (
    Health,
    PrometheusClient,
    Series,
    Target,
    parse_duration,
    parse_matrix,
    parse_targets,
)

# The names re-exported, as the module lists them.
__all__ = [
    "Health",
    "PrometheusClient",
    "Series",
    "Target",
    "parse_duration",
    "parse_matrix",
    "parse_targets",
]

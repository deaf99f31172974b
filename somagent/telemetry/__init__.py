"""Telemetry shared by every role process: Prometheus metrics and the aggregated scrape.

See docs/observability.md for every name. This package imports nothing of the
project but ``somagent.exceptions`` (any package may import it).
"""

"""Fixtures for the Prometheus fact tests: one real server for the whole session."""

from tests.helpers.prometheus import prometheus_history, prometheus_server

__all__ = ["prometheus_history", "prometheus_server"]

"""Fixtures for the decision page's tests: one real Prometheus per session, for threshold plots."""

from tests.helpers.prometheus import prometheus_history, prometheus_server

__all__ = ["prometheus_history", "prometheus_server"]

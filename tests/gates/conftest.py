"""Fixtures for the gate tests: one real Prometheus and one real MLflow per session."""

from tests.helpers.mlflow import mlflow_server
from tests.helpers.prometheus import prometheus_history, prometheus_server

__all__ = ["mlflow_server", "prometheus_history", "prometheus_server"]

"""Fixtures for the gate tests: one real Prometheus and one real MLflow per session."""

from tests.helpers.mlflow import mlflow_auth_server, mlflow_server
from tests.helpers.prometheus import prometheus_history, prometheus_server

__all__ = ["mlflow_auth_server", "mlflow_server", "prometheus_history", "prometheus_server"]

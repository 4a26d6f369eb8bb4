"""Fixtures for the benchmark/evaluation tests: one real MLflow server per session."""

from tests.helpers.mlflow import mlflow_server

__all__ = ["mlflow_server"]

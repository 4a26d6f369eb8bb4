"""Model URIs and MLflow credentials, as read from a policy and the environment."""

from __future__ import annotations

import pytest

from engine.facts.mlflow import MlflowError, mlflow_credentials, parse_model_uri


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/ranker@champion", ("ranker", None, "champion")),
        ("models:/ranker/3", ("ranker", "3", None)),
        ("ranker@champion", ("ranker", None, "champion")),
        ("team.ranker-v2/12", ("team.ranker-v2", "12", None)),
    ],
)
def test_model_uris(uri: str, parsed: tuple[str, str | None, str | None]) -> None:
    assert parse_model_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["models:/ranker", "models:/ranker/latest", "models:/@champion", "ranker/"])
def test_a_model_without_alias_or_version_number_is_refused(uri: str) -> None:
    with pytest.raises(MlflowError, match="must be models:/<name>@<alias>"):
        parse_model_uri(uri)


def test_named_variables_come_first() -> None:
    env = {"U": "alice", "P": "s3cret", "MLFLOW_TRACKING_TOKEN": "tok"}
    assert mlflow_credentials({"username_env": "U", "password_env": "P"}, env) == (None, ("alice", "s3cret"))
    assert mlflow_credentials({"token_env": "MLFLOW_TRACKING_TOKEN"}, env) == ("tok", None)


def test_mlflows_own_variables_apply_without_named_ones() -> None:
    assert mlflow_credentials({}, {"MLFLOW_TRACKING_TOKEN": "tok"}) == ("tok", None)
    assert mlflow_credentials({}, {"MLFLOW_TRACKING_USERNAME": "a", "MLFLOW_TRACKING_PASSWORD": "b"}) == \
        (None, ("a", "b"))
    assert mlflow_credentials({}, {"MLFLOW_TRACKING_USERNAME": "a"}) == (None, None)


def test_a_named_variable_that_is_unset_is_an_error() -> None:
    with pytest.raises(MlflowError, match="missing: P"):
        mlflow_credentials({"username_env": "U", "password_env": "P"}, {"U": "alice"})
    with pytest.raises(MlflowError, match="needs both"):
        mlflow_credentials({"username_env": "U"}, {"U": "alice"})

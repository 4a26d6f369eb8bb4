"""Reading metrics from a real MLflow tracking server (started by tests/helpers/mlflow.py).

Runs and metric histories are logged over MLflow's own REST API; `mlflow` is never
imported in the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.facts.mlflow import MlflowClient, MlflowError, find_run, read_mlflow_metric
from engine.stats import compare
from tests.helpers.mlflow import (
    MlflowLogger,
    MlflowServer,
    flaky_server,
    free_port,
    mlflow_executable,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def logger(mlflow_server: MlflowServer) -> MlflowLogger:
    return MlflowLogger(mlflow_server.url)


@pytest.fixture
def client(mlflow_server: MlflowServer) -> MlflowClient:
    return MlflowClient(mlflow_server.url, timeout=10, retries=1, backoff=0.05)


def test_latest_value_is_the_last_step_logged(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    run_id = logger.run(exp, name="eval", metrics={"accuracy": [0.70, 0.74, 0.72]})
    m = read_mlflow_metric(client, "accuracy", run_id=run_id)
    assert m.value == 0.72
    assert (m.samples, m.stderr, m.n) == ((), None, None)
    assert run_id in m.source


def test_history_is_read_as_repeated_runs(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    run_id = logger.run(exp, name="eval-x3", metrics={"accuracy": [0.70, 0.74, 0.72]})
    logger.log_metric(run_id, "accuracy", 0.71, step=3)
    m = read_mlflow_metric(client, "accuracy", run_id=run_id, mode="history")
    assert m.samples == (0.70, 0.74, 0.72, 0.71)  # oldest step first
    assert m.samples_kind == "runs"
    assert m.n == 4
    assert m.value == pytest.approx(0.7175)


def test_history_pages_are_all_read(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    values = [i / 1000 for i in range(1200)]  # more than one get-history page
    run_id = logger.run(exp, name="long", metrics={"loss": values})
    history = client.metric_history(run_id, "loss")
    assert [p.value for p in history] == values
    assert [p.step for p in history] == list(range(1200))


def test_run_is_found_by_tag(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    logger.run(exp, name="main", tags={"git_tree": "aaa111"}, metrics={"accuracy": [0.80]})
    wanted = logger.run(exp, name="pr-7", tags={"git_tree": "bbb222"}, metrics={"accuracy": [0.77]})
    run = find_run(client, [exp], filter_string="tags.git_tree = 'bbb222'")
    assert run.run_id == wanted
    assert run.tags["git_tree"] == "bbb222"
    m = read_mlflow_metric(client, "accuracy", experiment_ids=[exp],
                           filter_string="tags.git_tree = 'bbb222'")
    assert m.value == 0.77


def test_newest_matching_run_wins(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    now = int(time.time() * 1000)
    logger.run(exp, name="nightly", start_time=now - 86_400_000, metrics={"accuracy": [0.61]})
    newest = logger.run(exp, name="nightly", start_time=now, metrics={"accuracy": [0.64]})
    run = find_run(client, [exp], run_name="nightly")
    assert run.run_id == newest
    assert read_mlflow_metric(client, "accuracy", experiment_ids=[exp], run_name="nightly").value == 0.64


def test_run_name_with_a_quote_is_escaped_in_the_filter(
    logger: MlflowLogger, client: MlflowClient
) -> None:
    exp = logger.experiment()
    run_id = logger.run(exp, name="bob's eval", metrics={"accuracy": [0.5]})
    assert find_run(client, [exp], run_name="bob's eval").run_id == run_id


def test_runs_mode_reads_one_value_per_matching_run(
    logger: MlflowLogger, client: MlflowClient
) -> None:
    exp = logger.experiment()
    for value in (0.70, 0.72, 0.71):
        logger.run(exp, name="seed", tags={"git_tree": "ccc333"}, metrics={"accuracy": [value]})
    logger.run(exp, name="other", tags={"git_tree": "ddd444"}, metrics={"accuracy": [0.99]})
    m = read_mlflow_metric(client, "accuracy", experiment_ids=[exp],
                           filter_string="tags.git_tree = 'ccc333'", mode="runs")
    assert sorted(m.samples) == [0.70, 0.71, 0.72]
    assert m.n == 3


def test_histories_from_mlflow_compare_with_welch(
    logger: MlflowLogger, client: MlflowClient
) -> None:
    exp = logger.experiment()
    base = logger.run(exp, name="main", metrics={"accuracy": [0.80, 0.81, 0.79, 0.80, 0.81]})
    cand = logger.run(exp, name="pr", metrics={"accuracy": [0.74, 0.75, 0.73, 0.74, 0.76]})
    result = compare(
        read_mlflow_metric(client, "accuracy", run_id=cand, mode="history"),
        read_mlflow_metric(client, "accuracy", run_id=base, mode="history"),
        max_regression=0.01,
    )
    assert (result.method, result.verdict) == ("welch", "fail")


def test_unknown_run_id_is_reported_with_mlflows_error_code(client: MlflowClient) -> None:
    with pytest.raises(MlflowError, match=r"RESOURCE_DOES_NOT_EXIST.*0{32}"):
        read_mlflow_metric(client, "accuracy", run_id="0" * 32)


def test_no_run_matching_the_filter_is_reported(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    with pytest.raises(MlflowError, match=r"no MLflow run .* matches tags.git_tree = 'zzz'"):
        read_mlflow_metric(client, "accuracy", experiment_ids=[exp],
                           filter_string="tags.git_tree = 'zzz'")


def test_missing_metric_lists_the_runs_metrics(logger: MlflowLogger, client: MlflowClient) -> None:
    exp = logger.experiment()
    run_id = logger.run(exp, name="eval", metrics={"accuracy": [0.7], "f1": [0.6]})
    with pytest.raises(MlflowError, match=r"no metric 'rouge'; it has accuracy, f1"):
        read_mlflow_metric(client, "rouge", run_id=run_id)


def test_invalid_filter_is_refused_with_mlflows_message(client: MlflowClient) -> None:
    with pytest.raises(MlflowError, match=r"refused .*HTTP 400 INVALID_PARAMETER_VALUE"):
        client.search_runs(["0"], filter_string="tags.git_tree =")


def test_wrong_url_prefix_gives_the_http_status(mlflow_server: MlflowServer) -> None:
    wrong = MlflowClient(f"{mlflow_server.url}/not-mlflow", retries=0)
    with pytest.raises(MlflowError, match=r"HTTP 404"):
        wrong.get_run("0" * 32)


def test_server_down_is_unreachable_after_bounded_retries() -> None:
    down = MlflowClient(f"http://127.0.0.1:{free_port()}", timeout=2, retries=2, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(MlflowError, match=r"unreachable .*cannot connect.*after 3 attempts"):
        find_run(down, ["0"], run_name="x")
    assert time.monotonic() - started < 5


def test_5xx_answers_are_retried_then_succeed() -> None:
    with flaky_server(failures=2) as server:
        client = MlflowClient(server.url, retries=2, backoff=0.01)
        assert client.search_runs(["0"]) == ()
        assert len(server.requests_seen) == 3


def test_5xx_answers_beyond_the_retries_fail_with_the_servers_message() -> None:
    with flaky_server(failures=5) as server:
        client = MlflowClient(server.url, retries=1, backoff=0.01)
        with pytest.raises(MlflowError, match=r"HTTP 503 TEMPORARILY_UNAVAILABLE: try later.*2 attempts"):
            client.search_runs(["0"])
        assert len(server.requests_seen) == 2


def test_4xx_answers_are_not_retried() -> None:
    with flaky_server(failures=5, status=403) as server:
        client = MlflowClient(server.url, retries=3, backoff=0.01)
        with pytest.raises(MlflowError, match="refused"):
            client.search_runs(["0"])
        assert len(server.requests_seen) == 1


ROOT = Path(__file__).resolve().parents[2]


def test_ensure_mlflow_is_idempotent_and_prints_the_executable(
    mlflow_server: MlflowServer,
) -> None:
    exe = mlflow_executable()
    env = {**os.environ, "CHANGEGATE_MLFLOW_VENV": str(exe.parent.parent)}
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-mlflow")],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    assert out.stdout.strip() == str(exe)
    assert "installing" not in out.stderr  # already there: nothing reinstalled


def test_missing_mlflow_venv_fails_naming_the_script(tmp_path: Path) -> None:
    env = {**os.environ, "CHANGEGATE_MLFLOW_VENV": str(tmp_path / "no-venv")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/benchmarks/test_bench_mlflow.py::test_latest_value_is_the_last_step_logged"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 1, out.stdout
    assert "scripts/ensure-mlflow" in out.stdout
    assert "1 error" in out.stdout and "skipped" not in out.stdout

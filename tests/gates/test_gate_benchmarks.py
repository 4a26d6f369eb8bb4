"""`require: {benchmark: ...}` judged by the real `policy check` on golden result files and a real MLflow.

Golden files: tests/benchmarks/data (see its README). hellaswag acc falls from 0.6046 to
0.5722 over 10,000 items; gsm8k strict-match is identical (0.3904 over 1,319 items);
flexible-extract falls by 0.006.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gates.gates_support import Checked, Repo, write_policy
from tests.helpers.mlflow import MlflowLogger, MlflowServer, free_port

DATA = Path(__file__).parent.parent / "benchmarks" / "data"
LM_EVAL = DATA / "lm_eval_v04.json"
LM_BASE = DATA / "lm_eval_v04_baseline.json"


def bench_policy(body: str, *, sources: str = "") -> str:
    return f"""
version: 1
name: evals
{sources}
rules:
  - id: no-eval-regression
    require:
      benchmark: {body}
"""


def judge(tmp_path: Path, body: str, *, sources: str = "", stage: str = "merge", cwd: Path | None = None,
          repo: Repo | None = None) -> Checked:
    repo = repo or Repo(tmp_path)
    policy = write_policy(tmp_path, bench_policy(body, sources=sources))
    return repo.check(policy=policy, stage=stage, cwd=cwd)


def lm_eval(metric: str, extra: str) -> str:
    return (f'{{results: {{file: "{LM_EVAL}"}}, baseline: {{file: "{LM_BASE}"}}, format: lm-eval, '
            f'metric: "{metric}", {extra}}}')


def test_significant_lm_eval_regression_fails_with_the_numbers(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm_eval("hellaswag:acc,none", "max_regression: 0.01"))
    assert checked.code == 1
    outcome = checked["no-eval-regression"]
    assert outcome["status"] == "fail"
    assert "a significant regression" in outcome["message"] and "Newcombe" in outcome["message"]
    assert outcome["seen"][0].startswith("candidate: hellaswag:acc,none = 0.5722")
    assert outcome["seen"][1].startswith("baseline: hellaswag:acc,none = 0.6046")


def test_identical_scores_within_a_wide_margin_pass(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm_eval("gsm8k:exact_match,strict-match", "max_regression: 0.05"))
    assert checked.code == 0
    assert checked["no-eval-regression"]["status"] == "pass"


@pytest.mark.parametrize(("on_inconclusive", "status", "code"),
                         [(None, "fail", 1), ("warn", "warn", 0), ("allow", "pass", 0)])
def test_noisy_small_difference_is_inconclusive_and_the_policy_picks_the_action(
        tmp_path: Path, on_inconclusive: str | None, status: str, code: int) -> None:
    extra = "max_regression: 0.01" + (f", on_inconclusive: {on_inconclusive}" if on_inconclusive else "")
    checked = judge(tmp_path, lm_eval("gsm8k:exact_match,flexible-extract", extra))
    outcome = checked["no-eval-regression"]
    assert (outcome["status"], checked.code) == (status, code)
    assert "straddles" in outcome["message"]


def test_relative_margin_is_a_share_of_the_baseline(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm_eval("gsm8k:exact_match,flexible-extract", 'max_regression: "15%"'))
    assert checked.code == 0
    assert "15% of the baseline" in checked["no-eval-regression"]["message"]


def test_pytest_benchmark_timing_regression_fails(tmp_path: Path) -> None:
    """A baseline twice as fast as the golden run: the candidate's mean time regressed."""
    data = json.loads((DATA / "pytest_benchmark.json").read_text())
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        stats["data"] = [x / 2 for x in stats["data"]]
        for key in ("mean", "stddev", "min", "max", "median"):
            stats[key] /= 2
    (tmp_path / "base.json").write_text(json.dumps(data))
    body = (f'{{results: {{file: "{DATA / "pytest_benchmark.json"}"}}, baseline: {{file: "{tmp_path / "base.json"}"}},'
            f' format: pytest-benchmark, metric: "test_sort_large:mean", max_regression: "10%"}}')
    checked = judge(tmp_path, body)
    assert checked.code == 1
    assert "lower is better" in checked["no-eval-regression"]["message"]
    assert "Welch" in checked["no-eval-regression"]["message"]


def test_pytest_benchmark_against_itself_passes(tmp_path: Path) -> None:
    path = DATA / "pytest_benchmark.json"
    body = (f'{{results: {{file: "{path}"}}, baseline: {{file: "{path}"}}, format: pytest-benchmark,'
            f' metric: "test_sort_small:mean", max_regression: "10%"}}')
    assert judge(tmp_path, body).code == 0


def test_generic_json_key_paths_with_relative_files_from_the_working_directory(tmp_path: Path) -> None:
    results = tmp_path / "ci" / "results"
    results.mkdir(parents=True)
    (results / "eval.json").write_text((DATA / "generic.json").read_text())
    body = ('{results: {file: results/eval.json, key: metrics.accuracy, stderr_key: metrics.accuracy_stderr, '
            'n_key: metrics.n}, format: json, metric: accuracy, min: 0.75}')
    checked = judge(tmp_path, body, cwd=tmp_path / "ci")
    assert checked.code == 0, checked["no-eval-regression"]
    outcome = checked["no-eval-regression"]
    assert "accuracy 0.82 must be at least 0.75: pass" in outcome["message"]
    assert "baseline: none configured" in outcome["seen"][1]


def test_generic_json_bound_within_the_noise_is_inconclusive(tmp_path: Path) -> None:
    body = (f'{{results: {{file: "{DATA / "generic.json"}", key: metrics.accuracy, stderr_key: metrics.accuracy_stderr,'
            f' n_key: metrics.n}}, format: json, metric: accuracy, min: 0.81, on_inconclusive: warn}}')
    checked = judge(tmp_path, body)
    assert checked["no-eval-regression"]["status"] == "warn"
    assert "inconclusive" in checked["no-eval-regression"]["message"]


def test_baseline_of_zero_with_a_relative_margin_allows_no_regression(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text('{"refusal_rate": 0}')
    (tmp_path / "cand.json").write_text('{"refusal_rate": 0.031}')
    (tmp_path / "same.json").write_text('{"refusal_rate": 0}')
    common = 'format: json, metric: refusal_rate, higher_is_better: false, max_regression: "2%"'
    worse = judge(tmp_path / "a", f'{{results: {{file: "{tmp_path / "cand.json"}"}}, '
                                  f'baseline: {{file: "{tmp_path / "base.json"}"}}, {common}}}')
    same = judge(tmp_path / "b", f'{{results: {{file: "{tmp_path / "same.json"}"}}, '
                                 f'baseline: {{file: "{tmp_path / "base.json"}"}}, {common}}}')
    assert worse.code == 1
    assert "of a baseline of 0 is undefined; an absolute margin of 0 was used" in worse["no-eval-regression"]["message"]
    assert same.code == 0


def test_missing_baseline_without_bounds_is_an_error_that_denies(tmp_path: Path) -> None:
    body = (f'{{results: {{file: "{LM_EVAL}"}}, baseline: {{file: "{tmp_path / "nope.json"}"}}, format: lm-eval,'
            f' metric: "hellaswag:acc,none"}}')
    checked = judge(tmp_path, body)
    assert checked.code == 1
    outcome = checked["no-eval-regression"]
    assert outcome["status"] == "error"
    assert f"the baseline is missing: the results file {tmp_path / 'nope.json'} does not exist" in outcome["message"]


def test_missing_baseline_with_a_bound_is_judged_on_the_bound_with_a_warning(tmp_path: Path) -> None:
    body = (f'{{results: {{file: "{LM_EVAL}"}}, baseline: {{file: "{tmp_path / "nope.json"}"}}, format: lm-eval,'
            f' metric: "hellaswag:acc,none", min: 0.5}}')
    checked = judge(tmp_path, body)
    assert checked.code == 0
    assert checked["no-eval-regression"]["status"] == "warn"
    assert "baseline missing" in checked["no-eval-regression"]["message"]


def test_candidate_without_the_metric_is_an_error_listing_what_exists(tmp_path: Path) -> None:
    body = f'{{results: {{file: "{LM_EVAL}"}}, format: lm-eval, metric: "hellaswag:f1,none", min: 0.5}}'
    checked = judge(tmp_path, body)
    assert checked.code == 1
    assert "has no metric 'f1,none'; it has acc,none, acc_norm,none" in checked["no-eval-regression"]["message"]


def test_file_without_a_format_says_to_name_one(tmp_path: Path) -> None:
    checked = judge(tmp_path, f'{{results: {{file: "{LM_EVAL}"}}, metric: "hellaswag:acc,none", min: 0.5}}')
    assert checked.code == 1
    assert "say which format" in checked["no-eval-regression"]["message"]


def test_benchmark_is_not_judged_at_push(tmp_path: Path) -> None:
    checked = judge(tmp_path, f'{{results: {{file: "{LM_EVAL}"}}, format: lm-eval, metric: "hellaswag:acc,none", '
                              'min: 0.99}', stage="push")
    assert checked.code == 0
    assert checked["no-eval-regression"]["status"] == "skip"


# --------------------------------------------------------------------------- MLflow


def mlflow_sources(url: str) -> str:
    return f'sources:\n  mlflow: {{url: "{url}", timeout: 5s}}'


def test_mlflow_run_of_the_judged_tree_regresses_against_the_baseline_run(
        tmp_path: Path, mlflow_server: MlflowServer) -> None:
    logger = MlflowLogger(mlflow_server.url)
    experiment = logger.experiment("gate")
    repo = Repo(tmp_path)
    logger.run(experiment, name="baseline", metrics={"accuracy": [0.80, 0.81, 0.79, 0.80, 0.81, 0.80]})
    logger.run(experiment, name="candidate", tags={"git_tree": repo.tree(repo.head)},
               metrics={"accuracy": [0.70, 0.71, 0.69, 0.70, 0.72, 0.70]})
    logger.run(experiment, name="other", tags={"git_tree": "0" * 40}, metrics={"accuracy": [0.95, 0.95, 0.96]})
    body = (f"{{results: {{mlflow: {{experiment_ids: ['{experiment}'], filter: \"tags.git_tree = '{{tree}}'\", "
            f"mode: history}}}}, baseline: {{mlflow: {{experiment_ids: ['{experiment}'], run_name: baseline, "
            f"mode: history}}}}, metric: accuracy, max_regression: 0.02}}")
    checked = judge(tmp_path, body, sources=mlflow_sources(mlflow_server.url), repo=repo)
    assert checked.code == 1, checked["no-eval-regression"]
    outcome = checked["no-eval-regression"]
    assert "a significant regression" in outcome["message"]
    assert "over 6 runs" in outcome["seen"][0] and "history" in outcome["seen"][0]


def test_mlflow_candidate_equal_to_the_baseline_passes(tmp_path: Path, mlflow_server: MlflowServer) -> None:
    logger = MlflowLogger(mlflow_server.url)
    experiment = logger.experiment("gate")
    base = logger.run(experiment, name="baseline", metrics={"accuracy": [0.8]})
    cand = logger.run(experiment, name="candidate", metrics={"accuracy": [0.805]})
    body = (f"{{results: {{mlflow: {{run_id: '{cand}'}}}}, baseline: {{mlflow: {{run_id: '{base}'}}}}, "
            f"metric: accuracy, max_regression: 0.01}}")
    checked = judge(tmp_path, body, sources=mlflow_sources(mlflow_server.url))
    assert checked.code == 0
    assert "point comparison" in checked["no-eval-regression"]["message"]


def test_mlflow_down_is_an_error_following_on_error(tmp_path: Path) -> None:
    body = "{results: {mlflow: {run_id: abc}}, metric: accuracy, min: 0.5, on_error: warn}"
    checked = judge(tmp_path, body, sources=mlflow_sources(f"http://127.0.0.1:{free_port()}"))
    assert checked.code == 0
    outcome = checked["no-eval-regression"]
    assert outcome["status"] == "warn"
    assert "is unreachable" in outcome["message"]


# --------------------------------------------------------------------------- MLflow model registry and auth


def test_baseline_is_the_deployed_champion_model_version(tmp_path: Path, mlflow_server: MlflowServer) -> None:
    """`models:/name@champion` reads the run behind the version the alias points at, not the newest one."""
    logger = MlflowLogger(mlflow_server.url)
    experiment = logger.experiment("registry")
    champion = logger.run(experiment, name="v1", metrics={"accuracy": [0.80, 0.81, 0.79, 0.80, 0.81, 0.80]})
    newer = logger.run(experiment, name="v2", metrics={"accuracy": [0.60, 0.61, 0.59, 0.60, 0.61, 0.60]})
    model = f"ranker-{experiment}"
    assert logger.register(model, champion, alias="champion") == "1"
    assert logger.register(model, newer) == "2"  # registered later, not deployed
    candidate = logger.run(experiment, name="cand", metrics={"accuracy": [0.70, 0.71, 0.69, 0.70, 0.72, 0.70]})
    body = (f"{{results: {{mlflow: {{run_id: '{candidate}', mode: history}}}}, "
            f"baseline: {{mlflow: {{model: 'models:/{model}@champion', mode: history}}}}, "
            "metric: accuracy, max_regression: 0.02}")
    checked = judge(tmp_path / "a", body, sources=mlflow_sources(mlflow_server.url))
    assert (checked.code, checked["no-eval-regression"]["status"]) == (1, "fail")
    assert f"(model {model} version 1)" in checked["no-eval-regression"]["seen"][1]
    by_number = judge(tmp_path / "b", body.replace(f"{model}@champion", f"{model}/2"),
                      sources=mlflow_sources(mlflow_server.url))
    assert (by_number.code, by_number["no-eval-regression"]["status"]) == (0, "pass")
    assert f"(model {model} version 2)" in by_number["no-eval-regression"]["seen"][1]


def test_an_alias_that_does_not_exist_is_an_error(tmp_path: Path, mlflow_server: MlflowServer) -> None:
    logger = MlflowLogger(mlflow_server.url)
    experiment = logger.experiment("registry")
    run = logger.run(experiment, name="v1", metrics={"accuracy": [0.8]})
    model = f"ranker-{experiment}"
    logger.register(model, run, alias="champion")
    body = (f"{{results: {{mlflow: {{run_id: '{run}'}}}}, baseline: {{mlflow: {{model: '{model}@production'}}}}, "
            "metric: accuracy, max_regression: 0.02}")
    checked = judge(tmp_path, body, sources=mlflow_sources(mlflow_server.url))
    assert (checked.code, checked["no-eval-regression"]["status"]) == (1, "error")
    assert ("registered-models/alias: HTTP 400 INVALID_PARAMETER_VALUE: Registered model alias production "
            "not found") in checked["no-eval-regression"]["message"]


def auth_sources(url: str) -> str:
    return (f'sources:\n  mlflow: {{url: "{url}", timeout: 60s, username_env: EVAL_MLFLOW_USER, '
            'password_env: EVAL_MLFLOW_PASSWORD}')


def test_basic_auth_credentials_from_the_named_variables(
        tmp_path: Path, mlflow_auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    logger = MlflowLogger(mlflow_auth_server.url, auth=mlflow_auth_server.auth)
    experiment = logger.experiment("auth")
    run = logger.run(experiment, name="cand", metrics={"accuracy": [0.9]})
    body = f"{{results: {{mlflow: {{run_id: '{run}'}}}}, metric: accuracy, min: 0.8}}"
    assert mlflow_auth_server.auth is not None
    monkeypatch.setenv("EVAL_MLFLOW_USER", mlflow_auth_server.auth[0])
    monkeypatch.setenv("EVAL_MLFLOW_PASSWORD", mlflow_auth_server.auth[1])
    checked = judge(tmp_path / "a", body, sources=auth_sources(mlflow_auth_server.url))
    assert (checked.code, checked["no-eval-regression"]["status"]) == (0, "pass"), checked["no-eval-regression"]
    monkeypatch.setenv("EVAL_MLFLOW_PASSWORD", "wrong")
    refused = judge(tmp_path / "b", body, sources=auth_sources(mlflow_auth_server.url))
    assert (refused.code, refused["no-eval-regression"]["status"]) == (1, "error")
    assert "HTTP 401" in refused["no-eval-regression"]["message"]


def test_basic_auth_follows_mlflows_own_variables(
        tmp_path: Path, mlflow_auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    logger = MlflowLogger(mlflow_auth_server.url, auth=mlflow_auth_server.auth)
    run = logger.run(logger.experiment("auth"), name="cand", metrics={"accuracy": [0.9]})
    body = f"{{results: {{mlflow: {{run_id: '{run}'}}}}, metric: accuracy, min: 0.8}}"
    assert mlflow_auth_server.auth is not None
    plain = f'sources:\n  mlflow: {{url: "{mlflow_auth_server.url}", timeout: 60s}}'
    without = judge(tmp_path / "a", body, sources=plain)
    assert without["no-eval-regression"]["status"] == "error"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", mlflow_auth_server.auth[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.auth[1])
    checked = judge(tmp_path / "b", body, sources=plain)
    assert (checked.code, checked["no-eval-regression"]["status"]) == (0, "pass"), checked["no-eval-regression"]

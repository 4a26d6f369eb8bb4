"""Readers of evaluation results, checked on golden files (see data/README.md)."""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.facts.results import (
    FORMATS,
    Measurement,
    ResultsError,
    lookup,
    measurement_from_mapping,
    parse_key_path,
    parse_lm_eval,
    parse_pytest_benchmark,
    read_json_metric,
    read_lm_eval,
    read_pytest_benchmark,
    read_results,
)

DATA = Path(__file__).parent / "data"
LM_EVAL_V04 = DATA / "lm_eval_v04.json"
LM_EVAL_V03 = DATA / "lm_eval_v03.json"
PYTEST_BENCHMARK = DATA / "pytest_benchmark.json"
GENERIC = DATA / "generic.json"


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


# -- lm-evaluation-harness 0.4 ---------------------------------------------------------


def test_lm_eval_v04_reads_value_stderr_and_effective_sample_count() -> None:
    m = read_lm_eval(LM_EVAL_V04, "hellaswag:acc,none")
    assert m.metric == "hellaswag:acc,none"
    assert m.value == 0.5722
    assert m.stderr == pytest.approx(0.004937924326742261)
    assert m.n == 10000  # effective, not the 10042 of the full dataset
    assert m.proportion is True
    assert m.higher_is_better is True
    assert str(LM_EVAL_V04) in m.source


def test_lm_eval_v04_limit_uses_effective_count_not_dataset_size() -> None:
    m = read_lm_eval(LM_EVAL_V04, "arc_easy:acc_norm,none")
    assert (m.value, m.n) == (0.766, 500)


def test_lm_eval_v04_filter_selects_between_metrics_of_one_name() -> None:
    strict = read_lm_eval(LM_EVAL_V04, "gsm8k:exact_match,strict-match")
    flexible = read_lm_eval(LM_EVAL_V04, "gsm8k:exact_match,flexible-extract")
    assert strict.value * 1319 == pytest.approx(515)
    assert flexible.value * 1319 == pytest.approx(531)
    assert flexible.stderr == pytest.approx(0.013508523063663425)


def test_lm_eval_na_stderr_is_read_as_unknown() -> None:
    m = read_lm_eval(LM_EVAL_V04, "mmlu:acc,none")
    assert m.value == 0.6211
    assert m.stderr is None
    assert m.n is None  # a group has no n-samples entry
    assert not m.has_uncertainty


def test_lm_eval_perplexity_is_not_a_proportion_and_lower_is_better() -> None:
    m = read_lm_eval(LM_EVAL_V04, "wikitext:word_perplexity,none")
    assert m.value == 9.7416
    assert m.proportion is False
    assert m.higher_is_better is False


def test_lm_eval_unknown_task_lists_the_tasks_present() -> None:
    with pytest.raises(ResultsError, match=r"no task 'piqa'.*arc_easy, gsm8k, hellaswag"):
        read_lm_eval(LM_EVAL_V04, "piqa:acc,none")


def test_lm_eval_unknown_metric_lists_the_metrics_present() -> None:
    with pytest.raises(ResultsError, match=r"no metric 'acc'.*acc,none, acc_norm,none"):
        read_lm_eval(LM_EVAL_V04, "hellaswag:acc")


def test_lm_eval_metric_without_task_is_rejected_with_the_expected_form() -> None:
    with pytest.raises(ResultsError, match="task:metric,filter"):
        read_lm_eval(LM_EVAL_V04, "acc,none")


def test_lm_eval_groups_section_of_early_04_releases_is_read() -> None:
    # lm-eval 0.4.0-0.4.2 put aggregated groups under "groups", not "results".
    data = {
        "results": {"mmlu_anatomy": {"acc,none": 0.5, "acc_stderr,none": 0.04}},
        "groups": {"mmlu": {"acc,none": 0.61, "acc_stderr,none": 0.0039}},
    }
    m = parse_lm_eval(data, "mmlu:acc,none")
    assert (m.value, m.stderr) == (0.61, 0.0039)


def test_lm_eval_file_without_results_is_not_taken_for_one() -> None:
    with pytest.raises(ResultsError, match="no 'results' object"):
        read_lm_eval(PYTEST_BENCHMARK, "hellaswag:acc,none")


# -- lm-evaluation-harness 0.3 ---------------------------------------------------------


def test_lm_eval_v03_reads_bare_metric_and_its_stderr() -> None:
    m = read_lm_eval(LM_EVAL_V03, "hellaswag:acc")
    assert m.value == pytest.approx(0.4139613622784306)
    assert m.stderr == pytest.approx(0.004915351107318656)
    assert m.n is None  # 0.3 files do not record item counts
    assert m.proportion is True
    assert m.higher_is_better is None


def test_lm_eval_v03_non_accuracy_metric_keeps_its_stderr() -> None:
    m = read_lm_eval(LM_EVAL_V03, "lambada_openai:ppl")
    assert (m.value, m.stderr, m.proportion) == (6.4451, 0.1681, False)


# -- pytest-benchmark ------------------------------------------------------------------


def test_pytest_benchmark_mean_carries_rounds_as_repeated_runs() -> None:
    raw = _load(PYTEST_BENCHMARK)["benchmarks"][0]["stats"]
    m = read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_small:mean")
    assert m.value == raw["mean"]
    assert m.n == raw["rounds"] == len(m.samples) == 20
    assert m.samples_kind == "runs"
    assert statistics.fmean(m.samples) == pytest.approx(m.value, rel=1e-9)
    assert m.stderr == pytest.approx(raw["stddev"] / math.sqrt(raw["rounds"]))
    assert m.higher_is_better is False  # seconds


def test_pytest_benchmark_other_stats_are_point_values() -> None:
    median = read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_large:median")
    assert median.samples == () and median.stderr is None
    assert median.higher_is_better is False
    ops = read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_large:ops")
    assert ops.higher_is_better is True  # operations per second
    mean = read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_large:mean")
    assert ops.value == pytest.approx(1 / mean.value)


def test_pytest_benchmark_fullname_addresses_a_benchmark() -> None:
    by_name = read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_large:min")
    by_full = read_pytest_benchmark(PYTEST_BENCHMARK, "bench_sort.py::test_sort_large:min")
    assert by_name.value == by_full.value


def test_pytest_benchmark_name_shared_by_two_files_must_be_disambiguated() -> None:
    data = _load(PYTEST_BENCHMARK)
    twin = json.loads(json.dumps(data["benchmarks"][0]))
    twin["fullname"] = "other/bench_sort.py::test_sort_small"
    data["benchmarks"].append(twin)
    with pytest.raises(ResultsError, match=r"several benchmarks.*use the fullname"):
        parse_pytest_benchmark(data, "test_sort_small:mean")
    m = parse_pytest_benchmark(data, "other/bench_sort.py::test_sort_small:mean")
    assert m.value == twin["stats"]["mean"]


def test_pytest_benchmark_without_saved_data_uses_stddev_and_rounds() -> None:
    data = _load(PYTEST_BENCHMARK)
    del data["benchmarks"][1]["stats"]["data"]
    m = parse_pytest_benchmark(data, "test_sort_large:mean")
    assert m.samples == ()
    assert m.n == 20
    stats = data["benchmarks"][1]["stats"]
    assert m.stderr == pytest.approx(stats["stddev"] / math.sqrt(20))


def test_pytest_benchmark_unknown_benchmark_and_stat_are_named() -> None:
    with pytest.raises(ResultsError, match=r"no benchmark 'test_x'.*test_sort_large"):
        read_pytest_benchmark(PYTEST_BENCHMARK, "test_x:mean")
    with pytest.raises(ResultsError, match=r"no stat 'p99'.*mean"):
        read_pytest_benchmark(PYTEST_BENCHMARK, "test_sort_small:p99")


@pytest.fixture(scope="module")
def fresh_benchmark_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run bench_sort.py with the installed pytest-benchmark, as the README describes."""
    work = tmp_path_factory.mktemp("pytest-benchmark")
    shutil.copy(DATA / "bench_sort.py", work)
    out = work / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
         "--rootdir", str(work), "bench_sort.py",
         f"--benchmark-json={out}", "--benchmark-save-data"],
        cwd=work, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_pytest_benchmark_reader_understands_todays_output(fresh_benchmark_json: Path) -> None:
    small = read_pytest_benchmark(fresh_benchmark_json, "test_sort_small:mean")
    large = read_pytest_benchmark(fresh_benchmark_json, "test_sort_large:mean")
    assert len(small.samples) == len(large.samples) == 20
    assert statistics.fmean(large.samples) == pytest.approx(large.value, rel=1e-9)
    assert large.value > 10 * small.value  # 100x the items to sort


# -- generic JSON ----------------------------------------------------------------------


def test_generic_json_reads_value_stderr_and_n_by_key_paths() -> None:
    m = read_json_metric(
        GENERIC, "metrics.accuracy", stderr_path="metrics.accuracy_stderr", n_path="metrics.n",
        proportion=True,
    )
    assert (m.metric, m.value, m.stderr, m.n, m.proportion) == (
        "metrics.accuracy", 0.82, 0.01215, 1000, True,
    )


def test_generic_json_list_index_path() -> None:
    m = read_json_metric(GENERIC, "results[1].score", metric="latency_p95_ms")
    assert (m.metric, m.value, m.has_uncertainty) == ("latency_p95_ms", 412.5, False)


def test_generic_json_list_of_numbers_is_read_as_per_item_scores() -> None:
    m = read_json_metric(GENERIC, "results[0].per_item")
    assert m.samples == (1.0, 0.8, 1.0, 0.9, 0.85, 0.95, 1.0, 0.78)
    assert m.samples_kind == "scores"
    assert m.value == pytest.approx(0.91)
    assert m.n == 8


def test_generic_json_quoted_key_may_contain_dots() -> None:
    assert read_json_metric(GENERIC, 'scores."exact.match"').value == 0.64


def test_generic_json_missing_key_names_the_step_that_failed() -> None:
    with pytest.raises(ResultsError, match=r"metrics has no key 'f1'.*accuracy"):
        read_json_metric(GENERIC, "metrics.f1")
    with pytest.raises(ResultsError, match=r"results has no item 5"):
        read_json_metric(GENERIC, "results[5].score")


def test_generic_json_non_number_value_is_rejected() -> None:
    with pytest.raises(ResultsError, match=r"'N/A', not a finite number"):
        read_json_metric(GENERIC, "scores.judge")


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("metrics.accuracy", ("metrics", "accuracy")),
        ("results[0].score", ("results", 0, "score")),
        ('"a.b"[2].c', ("a.b", 2, "c")),
        ("[0]", (0,)),
    ],
)
def test_key_path_syntax(path: str, steps: tuple[str | int, ...]) -> None:
    assert parse_key_path(path) == steps


@pytest.mark.parametrize("path", ["", "a..b", "a.", ".a", "a[x]", "a[0]b", '"open'])
def test_malformed_key_paths_are_rejected(path: str) -> None:
    with pytest.raises(ResultsError):
        parse_key_path(path)


def test_lookup_into_a_top_level_list() -> None:
    assert lookup([{"score": 3}], "[0].score") == 3


# -- plain mappings (metrics inside evidence) ------------------------------------------


def test_mapping_with_a_bare_number_is_a_point_value() -> None:
    m = measurement_from_mapping({"accuracy": 0.8}, "accuracy", source="evidence abc")
    assert m == Measurement(metric="accuracy", value=0.8, source="evidence abc")


def test_mapping_with_value_stderr_and_n() -> None:
    m = measurement_from_mapping(
        {"accuracy": {"value": 0.8, "stderr": 0.02, "n": 400, "proportion": True}}, "accuracy"
    )
    assert (m.value, m.stderr, m.n, m.proportion) == (0.8, 0.02, 400, True)


def test_mapping_with_samples_only_takes_their_mean() -> None:
    m = measurement_from_mapping({"latency": {"samples": [1.0, 2.0, 3.0]}}, "latency")
    assert (m.value, m.n, m.samples) == (2.0, 3, (1.0, 2.0, 3.0))


def test_mapping_with_unknown_keys_or_missing_metric_is_rejected() -> None:
    with pytest.raises(ResultsError, match="unknown keys stdev"):
        measurement_from_mapping({"a": {"value": 1, "stdev": 2}}, "a")
    with pytest.raises(ResultsError, match=r"no metric 'b'; it has a"):
        measurement_from_mapping({"a": 1}, "b")
    with pytest.raises(ResultsError, match="neither 'value' nor 'samples'"):
        measurement_from_mapping({"a": {"n": 3}}, "a")


def test_measurement_rejects_non_finite_values() -> None:
    with pytest.raises(ResultsError, match="not a finite number"):
        Measurement(metric="x", value=math.nan)
    with pytest.raises(ResultsError, match="stderr"):
        Measurement(metric="x", value=1.0, stderr=-0.1)


# -- format dispatch and file errors ---------------------------------------------------


def test_read_results_dispatches_on_the_policy_format_name() -> None:
    assert set(FORMATS) >= {"lm-eval", "pytest-benchmark", "json", "mapping"}
    m = read_results("lm-eval", LM_EVAL_V04, "hellaswag:acc_norm,none")
    assert m.value == 0.7618
    g = read_results("json", GENERIC, "metrics.refusal_rate")
    assert g.value == 0.031


def test_read_results_unknown_format_lists_known_ones() -> None:
    with pytest.raises(ResultsError, match=r"unknown results format 'csv'.*lm-eval"):
        read_results("csv", GENERIC, "x")


def test_missing_and_invalid_files_are_reported_plainly(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="does not exist"):
        read_lm_eval(tmp_path / "nope.json", "a:b")
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": ')
    with pytest.raises(ResultsError, match=r"not valid JSON.*line 1"):
        read_lm_eval(bad, "a:b")

"""The eval tools' result files read into Measurements, with exact values from the files in data/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.facts.eval_tools import read_lm_eval_samples
from engine.facts.results import ResultsError, lm_eval_group_tasks, load_results, metric_names, read_results

DATA = Path(__file__).parent / "data"


def test_promptfoo_pass_rate_score_and_named_scores() -> None:
    path = DATA / "promptfoo" / "candidate.json"
    rate = read_results("promptfoo", path, "pass_rate")
    assert (rate.value, rate.n, rate.proportion, len(rate.item_ids)) == (29 / 40, 40, True, 40)
    data = json.loads(path.read_text())
    assert rate.value == data["results"]["stats"]["successes"] / 40
    assert metric_names("promptfoo", load_results("promptfoo", path)) == [
        "pass_rate", "score", "latency_ms", "brevity", "correctness"]
    latency = read_results("promptfoo", path, "latency_ms")
    assert latency.higher_is_better is False


def test_deepeval_published_fixture() -> None:
    path = DATA / "deepeval" / "test_run_sample.json"
    faith = read_results("deepeval", path, "Faithfulness")
    assert faith.samples == (0.45, 0.91, 0.88) and faith.item_ids == ()  # testCases hold only one of them
    assert read_results("deepeval", path, "Faithfulness:pass_rate").value == pytest.approx(2 / 3)
    assert read_results("deepeval", path, "pass_rate").value == 0.0
    with pytest.raises(ResultsError, match="no metric 'Toxicity'"):
        read_results("deepeval", path, "Toxicity")


def test_openai_evals_accuracy_agrees_with_the_final_report() -> None:
    m = read_results("openai-evals", DATA / "openai_evals" / "candidate.jsonl", "accuracy")
    assert (m.value, m.n) == (82 / 120, 120)


def test_openai_evals_report_that_disagrees_with_its_events_is_refused(tmp_path: Path) -> None:
    lines = (DATA / "openai_evals" / "candidate.jsonl").read_text().splitlines()
    lines[1] = json.dumps({"final_report": {"accuracy": 0.9}})
    (tmp_path / "log.jsonl").write_text("\n".join(lines))
    with pytest.raises(ResultsError, match="disagrees with its 120 sample events"):
        read_results("openai-evals", tmp_path / "log.jsonl", "accuracy")


def test_lm_eval_group_expands_nested_groups_to_57_subtasks() -> None:
    data = load_results("lm-eval", next((DATA / "lm_eval_suite" / "candidate").glob("results_*.json")))
    tasks = lm_eval_group_tasks(data, "mmlu")
    assert len(tasks) == 57 and tasks[0] == "mmlu_abstract_algebra"
    assert lm_eval_group_tasks(data, "mmlu_other")[-1] == "mmlu_virology"


def test_lm_eval_samples_ids_carry_the_document_hash() -> None:
    ids, scores = read_lm_eval_samples(next((DATA / "lm_eval_suite" / "baseline").glob("samples_boolq_*")), "acc,none")
    assert len(ids) == 500 and sum(scores) == 350
    assert ids[0].startswith("0:") and len(ids[0]) == 2 + 64

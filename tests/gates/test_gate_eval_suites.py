"""Whole suites, paired per-item comparisons, repeated runs and the eval tools' own result files,
judged by the real `policy check`.

Data: tests/benchmarks/data (its README says where each file comes from). The lm-eval suite
files are written by lm_eval_suite/make_suite.py with known drops: over MMLU's 57 subtasks the
candidate loses 30 of 102 items on college_physics and 60 of 310 on high_school_biology
(significant after Holm), 25 of 234 on marketing (significant alone, not after Holm);
on boolq it loses 15 items and gains none; on piqa it loses 4 and gains 3.
The promptfoo files are real `promptfoo eval -o` outputs: the baseline prompt passes 40 of 40
test cases, the candidate prompt 29 of 40 (it loses 11, gains none).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gates.gates_support import Checked, Repo, write_policy

DATA = Path(__file__).parent.parent / "benchmarks" / "data"
SUITE = DATA / "lm_eval_suite"
CAND_DIR, BASE_DIR = SUITE / "candidate", SUITE / "baseline"
CAND = next(CAND_DIR.glob("results_*.json"))
BASE = next(BASE_DIR.glob("results_*.json"))
RULE = "evals"


def judge(tmp_path: Path, body: str, *, cwd: Path | None = None) -> Checked:
    repo = Repo(tmp_path)
    policy = write_policy(tmp_path, f"""
version: 1
name: evals
rules:
  - id: {RULE}
    require:
      benchmark: {body}
""")
    return repo.check(policy=policy, stage="merge", cwd=cwd)


def lm(extra: str, *, cand_samples: bool = False, base_samples: bool = False) -> str:
    cs = f', samples: "{CAND_DIR}/samples_{{task}}_*.jsonl"' if cand_samples else ""
    bs = f', samples: "{BASE_DIR}/samples_{{task}}_*.jsonl"' if base_samples else ""
    return f'{{results: {{file: "{CAND}"{cs}}}, baseline: {{file: "{BASE}"{bs}}}, format: lm-eval, {extra}}}'


# --------------------------------------------------------------------------- suites


def test_group_suite_with_holm_names_exactly_the_two_regressed_subtasks(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('group: mmlu, metric: "acc,none", max_regression: 0.01, on_inconclusive: allow'))
    assert checked.code == 1
    outcome = checked[RULE]
    assert outcome["status"] == "fail"
    message = outcome["message"]
    assert message.startswith("2 of 57 tasks of group mmlu (acc,none) regressed beyond the allowed margin "
                              "(Holm-adjusted at 0.95 confidence; Newcombe interval)")
    assert "mmlu_college_physics:acc,none regression 0.2941 [0.1577, 0.4155], adjusted p 0.00247" in message
    assert "mmlu_high_school_biology:acc,none regression 0.1935 [0.1151, 0.2686], adjusted p 0.000264" in message
    assert "marketing" not in message
    assert outcome["seen"][0].startswith("mmlu_high_school_biology:acc,none: [fail]") or \
        outcome["seen"][0].startswith("mmlu_college_physics:acc,none: [fail]")


def test_without_correction_the_chance_finding_on_marketing_also_fails(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('group: mmlu, metric: "acc,none", max_regression: 0.01, correction: none, '
                                 'on_inconclusive: allow'))
    message = checked[RULE]["message"]
    assert message.startswith("3 of 57 tasks")
    assert "mmlu_marketing:acc,none regression 0.1068" in message


def test_benjamini_hochberg_flags_the_same_two(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('group: mmlu, metric: "acc,none", max_regression: 0.01, correction: bh, '
                                 'on_inconclusive: allow'))
    message = checked[RULE]["message"]
    assert message.startswith("2 of 57 tasks") and "Benjamini-Hochberg-adjusted" in message


def test_globs_select_tasks_by_name(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('metrics: ["mmlu_college_*:acc,none"], max_regression: 0.01, on_inconclusive: allow'))
    assert checked.code == 1
    message = checked[RULE]["message"]
    assert message.startswith("1 of 6 tasks of mmlu_college_*:acc,none regressed")
    assert "mmlu_college_physics" in message


def test_a_suite_without_significant_regressions_is_inconclusive_and_the_policy_decides(tmp_path: Path) -> None:
    body = 'metrics: ["mmlu_abstract_algebra:acc,none", "mmlu_anatomy:acc,none"], max_regression: 0.01'
    denied = judge(tmp_path / "a", lm(body))
    allowed = judge(tmp_path / "b", lm(body + ", on_inconclusive: allow"))
    assert (denied.code, denied[RULE]["status"]) == (1, "fail")
    assert denied[RULE]["message"].startswith("inconclusive: 2 of 2 tasks")
    assert (allowed.code, allowed[RULE]["status"]) == (0, "pass")


def test_mean_over_subtasks_is_judged_on_its_own_interval(tmp_path: Path) -> None:
    """The mean falls by 0.0199 (95% interval [0.008, 0.032]): within 0.04, beyond 0.005."""
    wide = judge(tmp_path / "a", lm('group: mmlu, metric: "acc,none", aggregate: mean, max_regression: 0.04'))
    tight = judge(tmp_path / "b", lm('group: mmlu, metric: "acc,none", aggregate: mean, max_regression: 0.005'))
    assert (wide.code, wide[RULE]["status"]) == (0, "pass"), wide[RULE]
    assert "regression 0.01993; the 95% interval of the regression [0.008023, 0.03183]" in wide[RULE]["message"]
    assert wide[RULE]["seen"][0].startswith("candidate: the mean over group mmlu (acc,none) = 0.678251")
    assert (tight.code, tight[RULE]["status"]) == (1, "fail")
    assert "a significant regression" in tight[RULE]["message"]


def test_a_glob_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('metrics: ["mmlu_cooking_*:acc,none"], max_regression: 0.01'))
    assert (checked.code, checked[RULE]["status"]) == (1, "error")
    assert "the glob 'mmlu_cooking_*:acc,none' matches none of the metrics" in checked[RULE]["message"]


def test_a_task_missing_from_the_baseline_denies(tmp_path: Path) -> None:
    data = json.loads(BASE.read_text())
    del data["results"]["mmlu_anatomy"]
    (tmp_path / "base.json").write_text(json.dumps(data))
    body = (f'{{results: {{file: "{CAND}"}}, baseline: {{file: "{tmp_path / "base.json"}"}}, format: lm-eval, '
            'group: mmlu, metric: "acc,none", max_regression: 0.5}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "error")
    assert "no task 'mmlu_anatomy'" in checked[RULE]["message"]


# --------------------------------------------------------------------------- paired samples


def test_paired_items_show_a_regression_that_two_means_cannot(tmp_path: Path) -> None:
    unpaired = judge(tmp_path / "a", lm('metric: "boolq:acc,none", max_regression: 0.01'))
    paired = judge(tmp_path / "b", lm('metric: "boolq:acc,none", max_regression: 0.01',
                                      cand_samples=True, base_samples=True))
    assert unpaired[RULE]["message"].startswith("inconclusive:") and "Newcombe" in unpaired[RULE]["message"]
    assert (paired.code, paired[RULE]["status"]) == (1, "fail")
    message = paired[RULE]["message"]
    assert "a significant regression" in message
    assert ("95% paired McNemar mid-p interval of the difference on the same 500 items "
            "(0 items only the candidate gets right, 15 only the baseline)") in message
    assert "per-item scores" in paired[RULE]["seen"][0]


def test_paired_items_show_a_small_change_is_within_the_margin(tmp_path: Path) -> None:
    unpaired = judge(tmp_path / "a", lm('metric: "piqa:acc,none", max_regression: 0.02'))
    paired = judge(tmp_path / "b", lm('metric: "piqa:acc,none", max_regression: 0.02, mcnemar: exact',
                                      cand_samples=True, base_samples=True))
    assert unpaired[RULE]["status"] == "fail" and "straddles" in unpaired[RULE]["message"]
    assert (paired.code, paired[RULE]["status"]) == (0, "pass")
    assert "paired McNemar exact interval" in paired[RULE]["message"]


def test_samples_on_one_side_only_compare_means(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('metric: "boolq:acc,none", max_regression: 0.01', cand_samples=True))
    assert "Newcombe" in checked[RULE]["message"]


def test_paired_false_compares_means(tmp_path: Path) -> None:
    checked = judge(tmp_path, lm('metric: "boolq:acc,none", max_regression: 0.01, paired: false',
                                 cand_samples=True, base_samples=True))
    assert "Newcombe" in checked[RULE]["message"]


def test_samples_of_another_run_are_refused(tmp_path: Path) -> None:
    """The baseline's sample log offered as the candidate's: it does not average to the candidate's value."""
    body = (f'{{results: {{file: "{CAND}", samples: "{BASE_DIR}/samples_{{task}}_*.jsonl"}}, '
            f'baseline: {{file: "{BASE}", samples: "{BASE_DIR}/samples_{{task}}_*.jsonl"}}, format: lm-eval, '
            'metric: "boolq:acc,none", max_regression: 0.01}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "error")
    assert "does not belong to" in checked[RULE]["message"]


def test_samples_of_different_documents_are_not_paired(tmp_path: Path) -> None:
    """Same doc_ids, but one document changed (another dataset revision): pairing would compare unlike items."""
    lines = next(BASE_DIR.glob("samples_piqa_*.jsonl")).read_text().splitlines()
    first = json.loads(lines[0])
    first["doc_hash"] = "0" * 64
    (tmp_path / "samples_piqa_x.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    body = (f'{{results: {{file: "{CAND}", samples: "{CAND_DIR}/samples_{{task}}_*.jsonl"}}, '
            f'baseline: {{file: "{BASE}", samples: "{tmp_path}/samples_{{task}}_*.jsonl"}}, format: lm-eval, '
            'metric: "piqa:acc,none", max_regression: 0.02}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "error")
    assert "not of the same items (1 only in the candidate" in checked[RULE]["message"]


# --------------------------------------------------------------------------- repeated runs


def write_runs(folder: Path, values: list[float]) -> None:
    folder.mkdir(parents=True)
    for seed, value in enumerate(values):
        (folder / f"seed{seed}.json").write_text(json.dumps({"metrics": {"accuracy": value}}))


def test_repeated_runs_combine_into_a_mean_with_a_t_interval(tmp_path: Path) -> None:
    write_runs(tmp_path / "cand", [0.712, 0.705, 0.709, 0.715, 0.707])
    write_runs(tmp_path / "base", [0.752, 0.748, 0.755, 0.750, 0.749])
    write_runs(tmp_path / "same", [0.751, 0.753, 0.747, 0.752, 0.750])
    def body(cand: str) -> str:
        return (f'{{results: {{files: ["{tmp_path}/{cand}/seed*.json"], key: metrics.accuracy}}, '
                f'baseline: {{files: ["{tmp_path}/base/seed*.json"], key: metrics.accuracy}}, format: json, '
                'metric: accuracy, max_regression: 0.01}')

    worse = judge(tmp_path / "a", body("cand"))
    same = judge(tmp_path / "b", body("same"))
    assert (worse.code, worse[RULE]["status"]) == (1, "fail")
    assert "Welch t-interval of the difference of means, 5 vs 5 samples" in worse[RULE]["message"]
    assert worse[RULE]["seen"][0].startswith("candidate: accuracy = 0.7096 over 5 runs from 5 runs (json: seed0.json")
    assert (same.code, same[RULE]["status"]) == (0, "pass"), same[RULE]


def test_a_runs_glob_that_matches_nothing_is_missing(tmp_path: Path) -> None:
    body = (f'{{results: {{files: ["{tmp_path}/none/seed*.json"], key: metrics.accuracy}}, format: json, '
            'metric: accuracy, min: 0.5}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "error")
    assert f"no results file matches {tmp_path}/none/seed*.json" in checked[RULE]["message"]


# --------------------------------------------------------------------------- the eval tools' files


PROMPTFOO = DATA / "promptfoo"


def promptfoo(metric: str, extra: str = "max_regression: 0.05") -> str:
    cand, base = PROMPTFOO / "candidate.json", PROMPTFOO / "baseline.json"
    return (f'{{results: {{file: "{cand}"}}, baseline: {{file: "{base}"}}, '
            f'format: promptfoo, metric: "{metric}", {extra}}}')


def test_promptfoo_pass_rate_regression_is_paired_by_test_case(tmp_path: Path) -> None:
    checked = judge(tmp_path, promptfoo("pass_rate"))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail")
    message = checked[RULE]["message"]
    assert "candidate 0.725 over 40 per-item scores vs baseline 1 over 40 per-item scores" in message
    assert "(0 items only the candidate gets right, 11 only the baseline)" in message


def test_promptfoo_named_score_and_selector(tmp_path: Path) -> None:
    """brevity is 1 on all 40 items on both sides: no discordant item, yet up to 8.8% of items could
    disagree at 95% (the exact bound of the discordance rate), so 0.1 passes where 0.05 could not."""
    checked = judge(tmp_path / "a", promptfoo("brevity@echo", "max_regression: 0.1"))
    assert (checked.code, checked[RULE]["status"]) == (0, "pass"), checked[RULE]
    wrong = judge(tmp_path / "b", promptfoo("pass_rate@openai:gpt-4o"))
    assert wrong[RULE]["status"] == "error"
    assert "no result row matches 'openai:gpt-4o'; it has echo / answer-prompt" in wrong[RULE]["message"]


def test_deepeval_published_test_run(tmp_path: Path) -> None:
    path = DATA / "deepeval" / "test_run_sample.json"
    source = f'results: {{file: "{path}"}}, format: deepeval'
    ok = judge(tmp_path / "a", f'{{{source}, metric: "Answer Relevancy", min: 0.9}}')
    low = judge(tmp_path / "b", f'{{{source}, metric: "Faithfulness", min: 0.9}}')
    assert (ok.code, ok[RULE]["status"]) == (0, "pass")
    assert "Answer Relevancy 0.92 must be at least 0.9: pass" in ok[RULE]["message"]
    assert (low.code, low[RULE]["status"]) == (1, "fail")
    assert low[RULE]["seen"][0].startswith("candidate: Faithfulness = 0.746667 over 3 per-item scores")


def test_openai_evals_accuracy_from_match_events_paired_by_sample(tmp_path: Path) -> None:
    folder = DATA / "openai_evals"
    body = (f'{{results: {{file: "{folder / "candidate.jsonl"}"}}, baseline: {{file: "{folder / "baseline.jsonl"}"}}, '
            'format: openai-evals, metric: accuracy, max_regression: 0.02}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "fail")
    assert "on the same 120 items (0 items only the candidate gets right, 14 only the baseline)" in \
        checked[RULE]["message"]


@pytest.mark.parametrize("fmt", ["promptfoo", "deepeval", "openai-evals"])
def test_a_file_of_another_tool_is_a_clear_error(tmp_path: Path, fmt: str) -> None:
    checked = judge(tmp_path, f'{{results: {{file: "{CAND}"}}, format: {fmt}, metric: accuracy, min: 0.5}}')
    assert (checked.code, checked[RULE]["status"]) == (1, "error")


def test_deepeval_real_runs_pair_test_cases_by_name(tmp_path: Path) -> None:
    """Real `deepeval` runs (ExactMatchMetric, no LLM): the candidate fails 6 of the 30 cases the baseline passes."""
    folder = DATA / "deepeval"
    body = (f'{{results: {{file: "{folder / "candidate.json"}"}}, baseline: {{file: "{folder / "baseline.json"}"}}, '
            'format: deepeval, metric: "Exact Match", max_regression: 0.05}')
    checked = judge(tmp_path / "a", body)
    assert (checked.code, checked[RULE]["status"]) == (1, "fail")
    assert "on the same 30 items (0 items only the candidate gets right, 6 only the baseline)" in \
        checked[RULE]["message"]
    rate = judge(tmp_path / "b", body.replace('"Exact Match"', "pass_rate"))
    assert rate[RULE]["seen"][0].startswith("candidate: pass_rate = 0.8 n=30")


def test_a_candidate_that_leaves_out_a_regressed_task_is_not_let_off(tmp_path: Path) -> None:
    """Globs and groups expand over both sides: dropping mmlu_college_physics from the candidate's
    results (and from its group) makes that task an error, never an unjudged pass."""
    data = json.loads(CAND.read_text())
    del data["results"]["mmlu_college_physics"]
    data["group_subtasks"]["mmlu_stem"].remove("mmlu_college_physics")
    (tmp_path / "cand.json").write_text(json.dumps(data))
    for i, selection in enumerate(['metrics: ["mmlu_college_*:acc,none"]', 'group: mmlu, metric: "acc,none"']):
        body = (f'{{results: {{file: "{tmp_path / "cand.json"}"}}, baseline: {{file: "{BASE}"}}, format: lm-eval, '
                f'{selection}, max_regression: 0.5, on_inconclusive: allow}}')
        checked = judge(tmp_path / str(i), body)
        assert (checked.code, checked[RULE]["status"]) == (1, "error"), selection
        assert "no task 'mmlu_college_physics'" in checked[RULE]["message"]


def test_a_suite_of_paired_tasks_adjusts_the_mcnemar_p_values(tmp_path: Path) -> None:
    """boolq's paired p (0.0023) stays significant after Holm over two tasks; piqa cannot be shown
    within a one-point margin, so only boolq is named."""
    checked = judge(tmp_path, lm('metrics: ["boolq:acc,none", "piqa:acc,none"], max_regression: 0.01',
                                 cand_samples=True, base_samples=True))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail")
    message = checked[RULE]["message"]
    assert message.startswith("1 of 2 tasks of boolq:acc,none, piqa:acc,none regressed beyond the allowed "
                              "margin (Holm-adjusted at 0.95 confidence; paired McNemar mid-p): "
                              "boolq:acc,none regression 0.03")
    assert "adjusted p 0.00457" in message
    assert checked[RULE]["seen"][1].startswith("piqa:acc,none: [inconclusive]")

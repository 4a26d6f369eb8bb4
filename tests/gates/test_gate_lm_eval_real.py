"""The benchmark gate on real lm-evaluation-harness output, judged by the real `policy check`.

Data: tests/benchmarks/data/lm-eval-real (its README and produce.py say exactly how it was
made): lm-eval 0.4.13 run with `--log_samples` on a tiny local GPT-2 ("baseline") and on
two copies of it with noise added to the weights ("candidate", "candidate2"), over the
group tiny_suite = [tiny_arith = [tiny_add, tiny_add_carry], tiny_cmp, tiny_next], 40
four-way multiple-choice items per task.

Expected verdicts are computed here from the files themselves (per-item `acc` of each
`doc_id`), with scipy's own binomial test and Wilson intervals, not with the engine's code.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from scipy.optimize import brentq
from scipy.stats import binom, binomtest, norm

from tests.gates.gates_support import Checked, Repo, write_policy

REAL = Path(__file__).parent.parent / "benchmarks" / "data" / "lm-eval-real" / "out"
TASKS = ("tiny_add", "tiny_add_carry", "tiny_cmp", "tiny_next")
RULE = "real"


def run_dir(name: str) -> Path:
    return REAL / name / f"models__{name}"


def results_file(name: str) -> Path:
    (found,) = run_dir(name).glob("results_*.json")
    return found


def samples_file(name: str, task: str) -> Path:
    """lm-eval's own name: samples_<task>_<date id>.jsonl (the date id starts with the year)."""
    (found,) = run_dir(name).glob(f"samples_{task}_2*.jsonl")
    return found


def per_item(name: str, task: str) -> dict[tuple[int, str], float]:
    rows = [json.loads(line) for line in samples_file(name, task).read_text().splitlines()]
    return {(r["doc_id"], r["doc_hash"]): r["acc"] for r in rows}


def discordant(task: str, cand: str = "candidate", base: str = "baseline") -> tuple[int, int]:
    """(items only the candidate gets right, items only the baseline gets right)."""
    c, b = per_item(cand, task), per_item(base, task)
    assert c.keys() == b.keys()
    return (sum(1 for i in c if c[i] == 1 and b[i] == 0), sum(1 for i in c if c[i] == 0 and b[i] == 1))


def judge(tmp_path: Path, body: str) -> Checked:
    repo = Repo(tmp_path)
    policy = write_policy(tmp_path, f"""
version: 1
name: real-lm-eval
rules:
  - id: {RULE}
    require:
      benchmark: {body}
""")
    return repo.check(policy=policy, stage="merge")


def side(name: str, samples: str | None = "samples_{task}_*.jsonl") -> str:
    extra = f', samples: "{run_dir(name)}/{samples}"' if samples else ""
    return f'{{file: "{results_file(name)}"{extra}}}'


def with_samples(samples: str, metric: str) -> str:
    """candidate's results read with the sample logs `samples` (a quoted path pattern), against the baseline."""
    return (f'{{results: {{file: "{results_file("candidate")}", samples: {samples}}}, '
            f'baseline: {side("baseline")}, format: lm-eval, metric: "{metric}", max_regression: 0.05}}')


def lm(extra: str, *, cand: str = "candidate", samples: bool = True) -> str:
    pattern = "samples_{task}_*.jsonl" if samples else None
    return (f"{{results: {side(cand, pattern)}, baseline: {side('baseline', pattern)}, "
            f"format: lm-eval, {extra}}}")


def interval(message: str, label: str) -> tuple[float, float]:
    found = re.search(re.escape(label) + r" \[(-?[0-9.e-]+), (-?[0-9.e-]+)\]", message)
    assert found, message
    return float(found.group(1)), float(found.group(2))


# --------------------------------------------------------------------------- the files


def test_the_files_are_lm_evals_own_output() -> None:
    """What the gate relies on, read straight from the files: lm-eval wrote them, the group
    nests, every leaf task counts 40 items, and each samples file averages to its result."""
    for name in ("baseline", "candidate", "candidate2"):
        data = json.loads(results_file(name).read_text())
        assert data["lm_eval_version"] == "0.4.13"
        assert data["group_subtasks"] == {"tiny_suite": ["tiny_arith", "tiny_cmp", "tiny_next"],
                                          "tiny_arith": ["tiny_add", "tiny_add_carry"]}
        for task in TASKS:
            scores = list(per_item(name, task).values())
            assert data["n-samples"][task] == {"original": 40, "effective": 40}
            assert len(scores) == 40
            assert math.isclose(sum(scores) / 40, data["results"][task]["acc,none"])


# --------------------------------------------------------------------------- paired comparisons


def test_paired_mcnemar_on_real_samples_fails_the_damaged_task(tmp_path: Path) -> None:
    """tiny_add: the perturbed candidate loses 10 items and gains none. McNemar's mid-p test
    of 0 gains among 10 discordant items: p = 2 * (P(X < 0) + P(X = 0) / 2) = 2**-10."""
    gains, losses = discordant("tiny_add")
    assert (gains, losses) == (0, 10)
    d = gains + losses
    mid_p = 2 * (binom.cdf(gains - 1, d, 0.5) + binom.pmf(gains, d, 0.5) / 2)
    assert math.isclose(mid_p, 2**-10) and mid_p < 0.05

    checked = judge(tmp_path, lm('metric: "tiny_add:acc,none", max_regression: 0.05'))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail"), checked[RULE]
    message = checked[RULE]["message"]
    assert "a significant regression" in message
    assert ("95% paired McNemar mid-p interval of the difference on the same 40 items "
            f"({gains} items only the candidate gets right, {losses} only the baseline)") in message
    assert "candidate 0.65 ± 0.0764 (stderr) over 40 per-item scores vs baseline 0.9" in message
    # With no gain, the mid-p bound of the share of gains has a closed form:
    # P(X = 0) / 2 = (1 - theta)**d / 2 = 0.025; the regression's interval runs from
    # d/n * (1 - 2 theta) to the exact upper bound of the discordance rate d/n.
    theta_high = 1 - 0.05 ** (1 / d)
    expected = (d / 40 * (1 - 2 * theta_high), binomtest(d, 40).proportion_ci(0.95, method="exact").high)
    assert expected[0] > 0.05  # wholly beyond the margin: fail
    low, high = interval(message, "the 95% interval of the regression")
    assert math.isclose(low, expected[0], abs_tol=5e-4) and math.isclose(high, expected[1], abs_tol=5e-4)


def test_the_paired_interval_is_mcnemars_exact_interval(tmp_path: Path) -> None:
    """The exact interval, rebuilt from the counts with scipy's Clopper-Pearson intervals:
    the share of gains among the d discordant items, scaled by d/n (widened to the exact
    upper bound of d/n, as docs/benchmarks.md describes)."""
    gains, losses = discordant("tiny_add_carry")
    assert (gains, losses) == (2, 6)
    d, n = gains + losses, 40
    theta = binomtest(gains, d).proportion_ci(0.95, method="exact")
    rate_high = binomtest(d, n).proportion_ci(0.95, method="exact").high
    low_f, high_f = 2 * theta.low - 1, 2 * theta.high - 1
    diff = (min(d / n * low_f, rate_high * low_f), max(d / n * high_f, rate_high * high_f))
    regression = (-diff[1], -diff[0])
    assert regression[0] < 0.05 < regression[1]  # straddles the margin: inconclusive

    checked = judge(tmp_path, lm('metric: "tiny_add_carry:acc,none", max_regression: 0.05, mcnemar: exact'))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail"), checked[RULE]
    message = checked[RULE]["message"]
    assert message.startswith("inconclusive:")
    assert "paired McNemar exact interval of the difference on the same 40 items " \
           "(2 items only the candidate gets right, 6 only the baseline)" in message
    low, high = interval(message, "the 95% interval of the regression")
    assert math.isclose(low, regression[0], abs_tol=5e-4) and math.isclose(high, regression[1], abs_tol=5e-4)


def test_unpaired_the_same_files_cannot_tell(tmp_path: Path) -> None:
    """tiny_add_carry without samples: two independent 40-item means (Newcombe), far wider."""
    checked = judge(tmp_path, lm('metric: "tiny_add_carry:acc,none", max_regression: 0.05', samples=False))
    message = checked[RULE]["message"]
    assert message.startswith("inconclusive:") and "Newcombe" in message
    u_low, u_high = interval(message, "the 95% interval of the regression")
    paired = judge(tmp_path / "p", lm('metric: "tiny_add_carry:acc,none", max_regression: 0.05'))
    p_low, p_high = interval(paired[RULE]["message"], "the 95% interval of the regression")
    assert p_high - p_low < u_high - u_low


# --------------------------------------------------------------------------- the group


def holm(p: dict[str, float]) -> dict[str, float]:
    order = sorted(p, key=lambda t: p[t])
    adjusted, running = {}, 0.0
    for rank, task in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[task]))
        adjusted[task] = running
    return adjusted


def test_group_suite_paired_holm_names_exactly_the_damaged_tasks(tmp_path: Path) -> None:
    """Every leaf of tiny_suite (nested groups expanded) compared item by item with McNemar's
    exact test. With a margin of 0, "the regression is beyond the margin" is McNemar's
    one-sided exact test, whose p-value scipy gives; Holm adjusts them over the 4 tasks."""
    raw = {}
    for task in TASKS:
        gains, losses = discordant(task)
        raw[task] = min(1.0, 2 * binomtest(gains, gains + losses, 0.5, alternative="less").pvalue)
    adjusted = holm(raw)
    regressed = sorted(t for t in TASKS if adjusted[t] < 0.05)
    assert regressed == ["tiny_add", "tiny_next"]

    checked = judge(tmp_path, lm('group: tiny_suite, metric: "acc,none", max_regression: 0, mcnemar: exact, '
                                 'on_inconclusive: allow'))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail"), checked[RULE]
    message = checked[RULE]["message"]
    assert message.startswith(f"{len(regressed)} of 4 tasks of group tiny_suite (acc,none) regressed beyond the "
                              "allowed margin (Holm-adjusted at 0.95 confidence; paired McNemar exact): "), message
    for task in TASKS:
        assert (f"{task}:acc,none regression" in message) == (task in regressed), (task, message)
    seen = {line.split(":")[0]: line for line in checked[RULE]["seen"]}
    for task in TASKS:
        verdict = "fail" if task in regressed else "inconclusive"
        assert seen[task].startswith(f"{task}:acc,none: [{verdict}]"), seen[task]
        reported = float(re.search(r"adjusted p (\S+)$", seen[task]).group(1))  # type: ignore[union-attr]
        assert math.isclose(reported, adjusted[task], rel_tol=5e-3), (task, reported, adjusted[task])


def correct(name: str, task: str) -> int:
    return int(sum(per_item(name, task).values()))


def newcombe(k1: int, k2: int, n: int, confidence: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p2 - p1 (the regression), from scipy's Wilson
    intervals of the two proportions."""
    p1, p2 = k1 / n, k2 / n
    w1 = binomtest(k1, n).proportion_ci(confidence, method="wilson")
    w2 = binomtest(k2, n).proportion_ci(confidence, method="wilson")
    return (p2 - p1 - math.hypot(p2 - w2.low, w1.high - p1), p2 - p1 + math.hypot(w2.high - p2, p1 - w1.low))


def test_group_suite_unpaired_holm(tmp_path: Path) -> None:
    """The same group from the results files alone: two independent 40-item proportions per
    task. The p-value of "regressed beyond 0" is the 1 - confidence at which Newcombe's
    interval of the regression starts at 0 (found here with brentq), then Holm over 4 tasks."""
    raw = {}
    for task in TASKS:
        k_cand, k_base = correct("candidate", task), correct("baseline", task)
        if newcombe(k_cand, k_base, 40, 1e-9)[0] <= 0:
            raw[task] = 1.0
        else:
            raw[task] = 1 - brentq(lambda c, k1=k_cand, k2=k_base: newcombe(k1, k2, 40, c)[0], 1e-9, 1 - 1e-12)
    adjusted = holm(raw)
    assert sorted(t for t in TASKS if adjusted[t] < 0.05) == ["tiny_add", "tiny_next"]

    checked = judge(tmp_path, lm('group: tiny_suite, metric: "acc,none", max_regression: 0, '
                                 'on_inconclusive: allow', samples=False))
    assert (checked.code, checked[RULE]["status"]) == (1, "fail"), checked[RULE]
    assert checked[RULE]["message"].startswith(
        "2 of 4 tasks of group tiny_suite (acc,none) regressed beyond the allowed margin "
        "(Holm-adjusted at 0.95 confidence; Newcombe interval): tiny_add:acc,none regression 0.25")
    seen = {line.split(":")[0]: line for line in checked[RULE]["seen"]}
    for task in TASKS:
        verdict = "fail" if adjusted[task] < 0.05 else "inconclusive"
        assert seen[task].startswith(f"{task}:acc,none: [{verdict}]"), seen[task]
        reported = float(re.search(r"adjusted p (\S+)$", seen[task]).group(1))  # type: ignore[union-attr]
        assert math.isclose(reported, adjusted[task], rel_tol=5e-3), (task, reported, adjusted[task])
        k_cand, k_base = correct("candidate", task), correct("baseline", task)
        low, high = interval(seen[task], f"regression {(k_base - k_cand) / 40:g}")
        expected = newcombe(k_cand, k_base, 40, 0.95)
        assert math.isclose(low, expected[0], abs_tol=5e-4) and math.isclose(high, expected[1], abs_tol=5e-4)


def test_the_mean_over_the_groups_leaf_tasks(tmp_path: Path) -> None:
    """aggregate: mean judges the unweighted mean of the 4 leaf tasks, its standard error
    combined from the stderrs lm-eval recorded, with a normal interval."""
    def mean_and_se(name: str) -> tuple[float, float]:
        results = json.loads(results_file(name).read_text())["results"]
        mean = sum(results[t]["acc,none"] for t in TASKS) / 4
        return mean, math.sqrt(sum(results[t]["acc_stderr,none"] ** 2 for t in TASKS)) / 4

    (cand, se_c), (base, se_b) = mean_and_se("candidate"), mean_and_se("baseline")
    half = norm.ppf(0.975) * math.hypot(se_c, se_b)
    low, high = base - cand - half, base - cand + half
    assert low < 0.05 < high and 0.03 < low  # within 0.05 cannot be told; beyond 0.03 it is

    body = 'group: tiny_suite, metric: "acc,none", aggregate: mean, max_regression: {}'
    unsure = judge(tmp_path / "a", lm(body.format(0.05), samples=False))
    worse = judge(tmp_path / "b", lm(body.format(0.03), samples=False))
    assert (unsure.code, unsure[RULE]["status"]) == (1, "fail") and unsure[RULE]["message"].startswith("inconclusive:")
    assert (worse.code, worse[RULE]["status"]) == (1, "fail") and "a significant regression" in worse[RULE]["message"]
    for checked in (unsure, worse):
        message = checked[RULE]["message"]
        assert f"candidate {cand:g} ± {se_c:.3g} (stderr) vs baseline {base:g}" in message
        got = interval(message, "the 95% interval of the regression")
        assert math.isclose(got[0], low, abs_tol=5e-4) and math.isclose(got[1], high, abs_tol=5e-4)


def test_metric_globs_over_real_task_names(tmp_path: Path) -> None:
    """tiny_add* is the two addition tasks, not the group tiny_arith."""
    checked = judge(tmp_path, lm('metrics: ["tiny_add*:acc,none"], max_regression: 0, mcnemar: exact, '
                                 'on_inconclusive: allow'))
    message = checked[RULE]["message"]
    assert message.startswith("1 of 2 tasks of tiny_add*:acc,none regressed"), message
    assert "tiny_add:acc,none regression 0.25" in message


# --------------------------------------------------------------------------- mismatches


def test_samples_of_another_run_are_refused(tmp_path: Path) -> None:
    """candidate's results with candidate2's sample log (the same 40 items, another model)."""
    other = f'"{run_dir("candidate2")}/samples_{{task}}_*.jsonl"'
    checked = judge(tmp_path, with_samples(other, "tiny_add:acc,none"))
    assert (checked.code, checked[RULE]["status"]) == (1, "error"), checked[RULE]
    assert "does not belong to" in checked[RULE]["message"]
    assert ("lm-eval wrote it in the run of 2026-12-01T20-43-50.185216, "
            "the results file in the run of 2026-12-01T20-43-28.505154") in checked[RULE]["message"]


def test_a_log_of_another_run_with_the_same_mean_is_refused(tmp_path: Path) -> None:
    """Two models can score the same: here the candidate's results say 0.9 on tiny_add, as
    the baseline's do, and the baseline's own log is offered as the candidate's. Mean and
    count agree, and pairing a log with itself shows no discordant item: within 0.1, a pass.
    Only the run id in lm-eval's file names tells that the log is another run's."""
    data = json.loads(results_file("candidate").read_text())
    data["results"]["tiny_add"]["acc,none"] = 0.9
    edited = tmp_path / results_file("candidate").name
    edited.write_text(json.dumps(data))
    body = (f'{{results: {{file: "{edited}", samples: "{run_dir("baseline")}/samples_{{task}}_*.jsonl"}}, '
            f'baseline: {side("baseline")}, format: lm-eval, metric: "tiny_add:acc,none", max_regression: 0.1}}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "error"), checked[RULE]
    assert "lm-eval wrote it in the run of 2026-12-01T20-43-12.232977" in checked[RULE]["message"]


def test_several_runs_in_one_folder_pair_each_with_its_own_logs(tmp_path: Path) -> None:
    """lm-eval writes every run of a model into the same folder (out/<model>/), each file
    stamped with the run's date id: `samples_{task}_*.jsonl` then matches every run's log of
    the task (and tiny_add's also matches tiny_add_carry's); each side takes its own run's."""
    folder = tmp_path / "out" / "models__main"
    folder.mkdir(parents=True)
    for name in ("baseline", "candidate"):
        for f in run_dir(name).iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
    pattern = f'samples: "{folder}/samples_{{task}}_*.jsonl"'
    body = (f'{{results: {{file: "{folder / results_file("candidate").name}", {pattern}}}, '
            f'baseline: {{file: "{folder / results_file("baseline").name}", {pattern}}}, '
            'format: lm-eval, metric: "tiny_add:acc,none", max_regression: 0.05}')
    checked = judge(tmp_path, body)
    assert (checked.code, checked[RULE]["status"]) == (1, "fail"), checked[RULE]
    assert "(0 items only the candidate gets right, 10 only the baseline)" in checked[RULE]["message"]
    assert f"samples_tiny_add_{results_file('candidate').name[8:-5]}.jsonl" in checked[RULE]["seen"][0]
    assert f"samples_tiny_add_{results_file('baseline').name[8:-5]}.jsonl" in checked[RULE]["seen"][1]


def test_a_pattern_matching_two_logs_of_one_run_is_an_error(tmp_path: Path) -> None:
    """A pattern that matches two tasks' logs of the same run (not told apart by the task
    names the results file lists) is refused, never guessed."""
    pattern = f'"{run_dir("candidate")}/samples_tiny_*.jsonl"'
    checked = judge(tmp_path, with_samples(pattern, "tiny_cmp:acc,none"))
    assert (checked.code, checked[RULE]["status"]) == (1, "error"), checked[RULE]
    assert "for task tiny_cmp matches 4 files" in checked[RULE]["message"]

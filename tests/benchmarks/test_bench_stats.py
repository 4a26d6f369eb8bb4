"""The candidate-vs-baseline comparison: textbook intervals and the verdict rules.

Reference values come from Newcombe (1998), "Interval estimation for the difference
between independent proportions: comparison of eleven methods", Stat. Med. 17:873-890
(Table II, method 10) and "Two-sided confidence intervals for the single proportion"
(Stat. Med. 17:857-872, Wilson score method); statsmodels (a test-only dependency) is a
second, independent implementation of both and of Welch's interval.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
    proportion_confint,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW  # type: ignore[import-untyped]

from engine.facts.results import Measurement, read_lm_eval, read_pytest_benchmark
from engine.stats import (
    Interval,
    MissingBaselineError,
    StatsError,
    compare,
    newcombe_interval,
    normal_interval,
    parse_margin,
    welch_interval,
    welch_interval_from_stats,
    wilson_interval,
)

DATA = Path(__file__).parent / "data"


def acc(value: float, n: int) -> Measurement:
    return Measurement(metric="acc", value=value, n=n, proportion=True)


# -- textbook intervals ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombes_single_proportion_examples(
    k: int, n: int, low: float, high: float
) -> None:
    ci = wilson_interval(k, n, 0.95)
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)
    sm_low, sm_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert ci == pytest.approx((sm_low, sm_high), abs=1e-12)


NEWCOMBE_TABLE_II = [
    # (a/m, b/n, method 10 lower, upper)
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize(("a", "m", "b", "n", "low", "high"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_matches_the_papers_table(
    a: int, m: int, b: int, n: int, low: float, high: float
) -> None:
    ci = newcombe_interval(a, m, b, n, 0.95)
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)


@pytest.mark.parametrize(("a", "m", "b", "n"), [(56, 70, 48, 80), (5722, 10000, 6046, 10000),
                                                  (3, 40, 9, 35)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_newcombe_interval_agrees_with_statsmodels(
    a: int, m: int, b: int, n: int, confidence: float
) -> None:
    ci = newcombe_interval(a, m, b, n, confidence)
    expected = confint_proportions_2indep(
        a, m, b, n, method="newcomb", compare="diff", alpha=1 - confidence
    )
    assert ci == pytest.approx(expected, abs=1e-10)


SAMPLE_A = (0.712, 0.698, 0.705, 0.721, 0.690, 0.703)
SAMPLE_B = (0.731, 0.722, 0.740, 0.728, 0.735)


def test_welch_interval_agrees_with_statsmodels() -> None:
    ci = welch_interval(SAMPLE_A, SAMPLE_B, 0.95)
    cm = CompareMeans(DescrStatsW(list(SAMPLE_A)), DescrStatsW(list(SAMPLE_B)))
    assert ci == pytest.approx(cm.tconfint_diff(alpha=0.05, usevar="unequal"), abs=1e-12)


def test_welch_from_summary_stats_equals_welch_from_samples() -> None:
    import statistics

    def se(xs: tuple[float, ...]) -> float:
        return statistics.stdev(xs) / math.sqrt(len(xs))

    diff = statistics.fmean(SAMPLE_A) - statistics.fmean(SAMPLE_B)
    from_stats = welch_interval_from_stats(diff, se(SAMPLE_A), 6, se(SAMPLE_B), 5, 0.95)
    assert from_stats == pytest.approx(welch_interval(SAMPLE_A, SAMPLE_B, 0.95), abs=1e-12)


def test_normal_interval_of_a_difference_uses_the_root_sum_of_squares() -> None:
    # 1.959964 * sqrt(0.01² + 0.01²) = 0.027718
    ci = normal_interval(0.02, 0.01, 0.01, 0.95)
    assert ci == pytest.approx((0.02 - 0.027718, 0.02 + 0.027718), abs=1e-6)


def test_welch_interval_of_two_constant_samples_is_the_exact_difference() -> None:
    assert welch_interval((2.0, 2.0, 2.0), (1.5, 1.5), 0.95) == Interval(0.5, 0.5)


# -- verdicts --------------------------------------------------------------------------


def test_significant_regression_beyond_the_margin_fails() -> None:
    c = compare(acc(0.5722, 10000), acc(0.6046, 10000), max_regression=0.01)
    assert c.verdict == "fail"
    assert c.method == "newcombe"
    assert c.difference == pytest.approx(-0.0324)
    assert c.regression == pytest.approx(0.0324)
    assert c.regression_ci is not None and c.regression_ci.low > 0.01
    assert c.difference_ci == Interval(-c.regression_ci.high, -c.regression_ci.low)
    assert "significant regression" in c.explanation
    assert "5722/10000 vs 6046/10000" in c.explanation


def test_regression_within_the_margin_at_the_upper_bound_passes() -> None:
    c = compare(acc(0.60, 10000), acc(0.602, 10000), max_regression=0.03)
    assert c.verdict == "pass"
    assert c.regression_ci is not None and c.regression_ci.high <= 0.03
    assert "stays within the allowed 0.03" in c.explanation


def test_noisy_small_eval_is_inconclusive_not_a_regression() -> None:
    # 2 points lower on 200 items is well inside the noise of such an eval.
    c = compare(acc(0.70, 200), acc(0.72, 200), max_regression=0.01)
    assert c.verdict == "inconclusive"
    assert c.regression_ci is not None
    assert c.regression_ci.low < 0.01 < c.regression_ci.high
    assert "cannot tell" in c.explanation


def test_both_stderr_use_a_normal_interval_when_n_is_unknown() -> None:
    cand = Measurement(metric="f1", value=0.75, stderr=0.01)
    base = Measurement(metric="f1", value=0.80, stderr=0.01)
    c = compare(cand, base, max_regression=0.01)
    assert c.method == "normal"
    assert c.regression_ci == pytest.approx((0.05 - 0.027718, 0.05 + 0.027718), abs=1e-6)
    assert c.verdict == "fail"


def test_both_stderr_with_n_use_welch_from_summary_statistics() -> None:
    cand = Measurement(metric="f1", value=0.75, stderr=0.02, n=5)
    base = Measurement(metric="f1", value=0.80, stderr=0.02, n=5)
    c = compare(cand, base, max_regression=0.0)
    assert c.method == "welch"
    # df = 8, t(0.975, 8) = 2.306004 — wider than the normal 1.96 at this tiny n
    assert c.regression_ci == pytest.approx((0.05 - 0.065224, 0.05 + 0.065224), abs=1e-5)
    assert c.verdict == "inconclusive"


def test_repeated_runs_use_welchs_t_interval() -> None:
    cand = Measurement(metric="score", value=0.7048, samples=SAMPLE_A)
    base = Measurement(metric="score", value=0.7312, samples=SAMPLE_B)
    c = compare(cand, base, max_regression=0.005)
    assert c.method == "welch"
    assert c.regression_ci is not None and c.regression_ci.low > 0.005
    assert c.verdict == "fail"


def test_rounded_accuracy_that_is_no_whole_count_falls_back_to_stderr() -> None:
    cand = Measurement(metric="acc", value=0.6211, n=14041, stderr=0.0040, proportion=True)
    base = acc(0.62, 1000)
    c = compare(cand, base, max_regression=0.01)
    assert c.method == "welch"  # no Newcombe: 0.6211 * 14041 is not a whole count
    assert "derived as sqrt(p(1-p)/n)" in c.explanation


def test_no_uncertainty_gives_a_point_verdict_that_says_so() -> None:
    c = compare(Measurement(metric="x", value=0.80), Measurement(metric="x", value=0.81),
                max_regression=0.02)
    assert c.verdict == "pass"
    assert c.method == "point"
    assert c.regression_ci is None
    assert not c.has_confidence_statement
    assert "without a confidence statement" in c.explanation


def test_point_comparison_when_only_one_side_has_uncertainty() -> None:
    c = compare(acc(0.5, 1000), Measurement(metric="acc", value=0.6), max_regression=0.05)
    assert (c.method, c.verdict) == ("point", "fail")
    assert "the baseline records no uncertainty" in c.explanation


# -- margins ---------------------------------------------------------------------------


def test_relative_margin_is_a_share_of_the_baseline() -> None:
    margin = parse_margin("2%", 0.8)
    assert margin.absolute == pytest.approx(0.016)
    assert margin.relative == pytest.approx(0.02)


def test_relative_margin_decides_the_verdict() -> None:
    cand, base = acc(0.60, 10000), acc(0.61, 10000)  # 1 point lower, ±1.4 points
    assert compare(cand, base, max_regression="10%").verdict == "pass"  # 0.061 allowed
    assert compare(cand, base, max_regression="1%").verdict == "inconclusive"  # 0.0061


def test_relative_margin_of_a_zero_baseline_is_zero_and_says_so() -> None:
    cand = Measurement(metric="errors", value=3.0, samples=(2.0, 3.0, 4.0))
    base = Measurement(metric="errors", value=0.0, samples=(0.0, 0.0, 0.0))
    c = compare(cand, base, higher_is_better=False, max_regression="5%")
    assert c.margin is not None and c.margin.absolute == 0.0
    assert "baseline of 0 is undefined; an absolute margin of 0 was used" in c.explanation


def test_absolute_margin_may_be_given_as_text() -> None:
    assert parse_margin("0.01", 0.5).absolute == 0.01


@pytest.mark.parametrize("bad", ["-1%", "-0.1", "two%", "abc", -0.5, float("nan")])
def test_invalid_margins_are_rejected(bad: float | str) -> None:
    with pytest.raises(StatsError):
        parse_margin(bad, 1.0)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_confidence_outside_zero_one_is_rejected(confidence: float) -> None:
    with pytest.raises(StatsError, match="confidence"):
        compare(acc(0.5, 10), acc(0.5, 10), confidence=confidence)


# -- direction -------------------------------------------------------------------------


def test_latency_from_pytest_benchmark_is_lower_is_better() -> None:
    path = DATA / "pytest_benchmark.json"
    slow = read_pytest_benchmark(path, "test_sort_large:mean")
    fast = read_pytest_benchmark(path, "test_sort_small:mean")
    regressed = compare(slow, fast, max_regression="50%")  # direction from the reader
    assert regressed.higher_is_better is False
    assert regressed.verdict == "fail"
    assert "lower is better" in regressed.explanation
    improved = compare(fast, slow, max_regression="50%")
    assert improved.verdict == "pass"
    assert improved.regression is not None and improved.regression < 0


def test_explicit_direction_overrides_the_readers_hint() -> None:
    path = DATA / "pytest_benchmark.json"
    slow = read_pytest_benchmark(path, "test_sort_large:mean")
    fast = read_pytest_benchmark(path, "test_sort_small:mean")
    assert compare(slow, fast, higher_is_better=True).verdict == "pass"


def test_bootstrap_on_request_for_skewed_timings() -> None:
    path = DATA / "pytest_benchmark.json"
    slow = read_pytest_benchmark(path, "test_sort_large:mean")
    fast = read_pytest_benchmark(path, "test_sort_small:mean")
    first = compare(slow, fast, method="bootstrap", seed=7)
    again = compare(slow, fast, method="bootstrap", seed=7)
    assert first.method == "bootstrap"
    assert first.verdict == "fail"
    assert first.regression_ci == again.regression_ci  # reproducible by seed
    welch = compare(slow, fast)
    assert first.regression_ci is not None and welch.regression_ci is not None
    # Both bracket the observed difference of means.
    for ci in (first.regression_ci, welch.regression_ci):
        assert ci.low < slow.value - fast.value < ci.high


def test_bootstrap_refuses_too_few_samples() -> None:
    few = Measurement(metric="t", value=1.0, samples=(1.0, 1.1, 0.9))
    with pytest.raises(StatsError, match="at least 10 samples"):
        compare(few, few, method="bootstrap")


# -- baseline missing, absolute bounds --------------------------------------------------


def test_missing_baseline_without_bounds_raises_a_mappable_error() -> None:
    with pytest.raises(MissingBaselineError, match="no baseline measurement of acc"):
        compare(acc(0.7, 100), None)


@pytest.mark.parametrize(
    ("minimum", "verdict"), [(0.50, "pass"), (0.55, "inconclusive"), (0.70, "fail")]
)
def test_min_bound_uses_the_candidates_wilson_interval(minimum: float, verdict: str) -> None:
    # 60/100: Wilson 95% interval [0.5020, 0.6906]
    c = compare(acc(0.60, 100), None, min=minimum)
    assert c.verdict == verdict
    assert c.method == "none" and c.regression is None
    (bound,) = c.bounds
    assert bound.method == "wilson"
    assert bound.interval == pytest.approx((0.5020, 0.6906), abs=1e-4)


def test_max_bound_on_a_point_value() -> None:
    c = compare(Measurement(metric="p95_ms", value=412.5), None, max=400)
    assert c.verdict == "fail"
    assert not c.has_confidence_statement


def test_bound_failure_fails_an_otherwise_passing_comparison() -> None:
    c = compare(acc(0.60, 10000), acc(0.60, 10000), max_regression=0.05, min=0.65)
    assert [c.bounds[0].verdict, c.verdict] == ["fail", "fail"]


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(StatsError, match="above max"):
        compare(acc(0.6, 100), None, min=0.8, max=0.7)


# -- end to end on lm-eval files ---------------------------------------------------------


def test_lm_eval_files_end_to_end() -> None:
    cand_path, base_path = DATA / "lm_eval_v04.json", DATA / "lm_eval_v04_baseline.json"
    hellaswag = compare(
        read_lm_eval(cand_path, "hellaswag:acc,none"),
        read_lm_eval(base_path, "hellaswag:acc,none"),
        max_regression=0.01,
    )
    assert (hellaswag.method, hellaswag.verdict) == ("newcombe", "fail")
    gsm8k = [
        compare(
            read_lm_eval(cand_path, "gsm8k:exact_match,strict-match"),
            read_lm_eval(base_path, "gsm8k:exact_match,strict-match"),
            max_regression=margin,
        ).verdict
        for margin in (0.01, "10%")
    ]
    assert gsm8k == ["inconclusive", "pass"]


# -- the hook stays fast ----------------------------------------------------------------


def test_importing_the_engine_modules_does_not_import_scipy_or_requests() -> None:
    code = (
        "import sys, engine.stats, engine.facts.results, engine.facts.mlflow\n"
        "heavy = sorted(m for m in ('scipy', 'numpy', 'requests') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60,
        check=True,
    )
    assert out.stdout.strip() == ""

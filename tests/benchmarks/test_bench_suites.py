"""Multiple-comparison control, paired intervals and p-values, checked against statsmodels and by hand."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.multitest import multipletests

from engine.facts.results import Measurement
from engine.stats import StatsError, compare, mcnemar_interval
from engine.suites import benjamini_hochberg, holm, judge_suite

P_VALUES = [0.0001, 0.004, 0.019, 0.0095, 0.3, 0.049, 0.5, 0.0005, 0.2, 0.03]


def test_holm_matches_statsmodels() -> None:
    expected = multipletests(P_VALUES, method="holm")[1]
    assert holm(P_VALUES) == pytest.approx(list(expected), abs=1e-12)


def test_benjamini_hochberg_matches_statsmodels() -> None:
    expected = multipletests(P_VALUES, method="fdr_bh")[1]
    assert benjamini_hochberg(P_VALUES) == pytest.approx(list(expected), abs=1e-12)


def proportion(k: int, n: int) -> Measurement:
    return Measurement("acc", k / n, n=n, proportion=True)


def test_p_value_is_below_alpha_exactly_when_the_single_verdict_fails() -> None:
    for k in range(60, 80):
        c = compare(proportion(k, 200), proportion(160, 200), max_regression=0.02)
        p = c.p_value()
        assert p is not None
        assert (p < 0.05) == (c.verdict == "fail"), (k, p, c.verdict)


def test_holm_turns_a_chance_finding_among_many_tasks_into_inconclusive() -> None:
    chance = compare(proportion(140, 200), proportion(160, 200), max_regression=0.0)  # p ≈ 0.02
    steady = [compare(proportion(160, 200), proportion(160, 200), max_regression=0.0) for _ in range(19)]
    assert chance.verdict == "fail"
    assert judge_suite([chance, *steady], "none", 0.95).verdict == "fail"
    held = judge_suite([chance, *steady], "holm", 0.95)
    assert held.verdict == "inconclusive" and not held.regressed


def paired(scores: list[float], ids: list[str]) -> Measurement:
    return Measurement("acc", math.fsum(scores) / len(scores), n=len(scores), samples=tuple(scores),
                       samples_kind="scores", proportion=True, item_ids=tuple(ids))


def test_mcnemar_exact_interval_inverts_the_conditional_binomial() -> None:
    """10 gains, 0 losses on 100 items: θ's exact lower bound is 0.025^(1/10); the rate bound widens the top."""
    ci = mcnemar_interval(10, 0, 100, 0.95, mid_p=False)
    assert ci.low == pytest.approx(0.1 * (2 * 0.025 ** 0.1 - 1), rel=1e-9)
    assert ci.high > 0.1


def test_no_discordant_items_still_leave_the_discordance_rate_open() -> None:
    ci = mcnemar_interval(0, 0, 40, 0.95)
    bound = 1 - 0.025 ** (1 / 40)
    assert (ci.low, ci.high) == pytest.approx((-bound, bound), rel=1e-9)


def test_paired_comparison_uses_mcnemar_for_zero_one_scores() -> None:
    base = [1.0] * 80 + [0.0] * 20
    cand = [0.0] * 10 + [1.0] * 70 + [0.0] * 20
    ids = [f"doc{i}" for i in range(100)]
    c = compare(paired(cand, ids), paired(base, ids), max_regression=0.0)
    assert c.method == "mcnemar-mid-p" and c.verdict == "fail"
    assert "(0 items only the candidate gets right, 10 only the baseline)" in c.explanation


def test_paired_bootstrap_for_graded_scores_is_reproducible() -> None:
    base = [0.5 + 0.01 * (i % 40) for i in range(200)]
    cand = [b - 0.05 for b in base]
    ids = [str(i) for i in range(200)]
    m = [Measurement("score", math.fsum(x) / 200, samples=tuple(x), samples_kind="scores", item_ids=tuple(ids))
         for x in (cand, base)]
    first = compare(m[0], m[1], max_regression=0.01)
    again = compare(m[0], m[1], max_regression=0.01)
    assert first.method == "paired-bootstrap" and first.verdict == "fail"
    assert first.regression_ci == again.regression_ci
    assert first.regression_ci is not None and first.regression_ci.low == pytest.approx(0.05)


def test_items_that_differ_between_the_sides_are_an_error() -> None:
    with pytest.raises(StatsError, match="not of the same items"):
        compare(paired([1.0, 0.0], ["a", "b"]), paired([1.0, 1.0], ["a", "c"]))

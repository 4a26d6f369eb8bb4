"""Judge a whole evaluation suite (many tasks at once) without making a false alarm certain.

With 57 MMLU subtasks each judged at 95 % confidence, some subtask "regresses
significantly" by chance in almost every run. A suite is therefore judged with
multiple-comparison control over the per-task p-values of "the regression is beyond the
margin" (`Comparison.p_value`):

- `holm`: Holm's step-down method, which bounds the chance of *any* false alarm (the
  family-wise error rate) at 1 - confidence, uniformly more powerful than Bonferroni;
- `bh`: Benjamini-Hochberg (scipy's `false_discovery_control`), which bounds the expected
  share of false alarms among the tasks flagged: more tasks flagged, some by chance;
- `none`: each task on its own interval, as a single-metric rule does.

A task *regressed* when its adjusted p-value is below 1 - confidence. A suite *passes*
only when every task's own interval lies within the margin (an intersection-union
test: no correction is needed, nor allowed, for "all are fine"); otherwise, with no
regressed task, it is inconclusive and the policy's `on_inconclusive` decides.

scipy is imported inside the functions: the git hook imports the engine package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from engine.stats import Comparison, Verdict

Correction = Literal["holm", "bh", "none"]

CORRECTION_NAMES = {
    "holm": "Holm-adjusted",
    "bh": "Benjamini-Hochberg-adjusted",
    "none": "uncorrected",
}


@dataclass(frozen=True)
class TaskVerdict:
    """One task of a suite: its comparison, its adjusted p-value and its verdict."""

    comparison: Comparison
    adjusted_p: float | None  # None: a point comparison (no p-value to adjust)
    verdict: Verdict


@dataclass(frozen=True)
class SuiteVerdict:
    verdict: Verdict
    correction: Correction
    tasks: tuple[TaskVerdict, ...]

    @property
    def regressed(self) -> tuple[TaskVerdict, ...]:
        return tuple(t for t in self.tasks if t.verdict == "fail")

    @property
    def inconclusive(self) -> tuple[TaskVerdict, ...]:
        return tuple(t for t in self.tasks if t.verdict == "inconclusive")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input's order.

    Sorted ascending, the k-th smallest (0-based) is multiplied by m - k, the running
    maximum keeps the adjusted values monotone, and they are capped at 1.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control)."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(x) for x in false_discovery_control(list(p_values), method="bh")]


def judge_suite(comparisons: Sequence[Comparison], correction: Correction, confidence: float) -> SuiteVerdict:
    """The verdict over many tasks; see the module docstring for the rules."""
    alpha = 1.0 - confidence
    p_values = [c.p_value() for c in comparisons]
    testable = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: dict[int, float] = {}
    if correction != "none" and testable:
        raw = [p for p in p_values if p is not None]
        adjusted_list = holm(raw) if correction == "holm" else benjamini_hochberg(raw)
        adjusted = dict(zip(testable, adjusted_list, strict=True))
    tasks = []
    for i, comparison in enumerate(comparisons):
        if comparison.verdict == "pass":
            verdict: Verdict = "pass"
        elif i in adjusted:
            # the bounds (min/max) a task also fails are judged per task, uncorrected
            bound_fail = any(b.verdict == "fail" for b in comparison.bounds)
            verdict = "fail" if adjusted[i] < alpha or bound_fail else "inconclusive"
        else:
            verdict = comparison.verdict
        tasks.append(TaskVerdict(comparison, adjusted.get(i, p_values[i]), verdict))
    verdicts = {t.verdict for t in tasks}
    overall: Verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    return SuiteVerdict(overall, correction, tuple(tasks))

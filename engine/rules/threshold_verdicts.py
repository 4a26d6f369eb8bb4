"""Threshold verdicts: is a number from Prometheus good enough right now (and for a while)?

The `require: {threshold: ...}` rule (engine.rules.thresholds) asks; this module judges
answers of engine.facts.prometheus. The answer must be explainable and must fail closed:
a check that cannot prove the condition holds never passes. The semantics, which a policy
author relies on:

* Conditions: ``below=x`` means value < x, ``above=x`` means value > x,
  ``between=(lo, hi)`` means lo <= value <= hi. Several may be given; all must hold.
* Without ``for_``: one instant query at ``at`` (always an explicit time, never "now" on
  the server's clock, so a decision can be reproduced).
* With ``for_``: a range query over the window [at - for_, at] at ``step``; the condition
  must hold at EVERY step, like an alerting rule's ``for``.
* An empty result is ``no_data``: no series means nothing to judge; the caller's policy
  decides whether that denies, allows or warns.
* NaN, +Inf and -Inf are violations: such a value cannot show that the condition holds
  (an error ratio of 0/0 is NaN, not "fine"). The series and the reason are named.
* Several series: every one must satisfy the condition; the failing ones are listed
  with their labels.
* A series with gaps inside the ``for`` window (steps where it has no value) violates:
  a missing step cannot show that the condition held there.
* Scalar and instant-vector results are judged; a string or a range vector (matrix)
  from an instant query is an ``error`` verdict telling how to fix the query.
* Server trouble (unreachable, timeout, HTTP errors, a rejected query, malformed answers)
  is an ``error`` verdict carrying the ``PrometheusError`` kind and message, so the rule's
  ``on_error`` can decide.

No rule kind lives here (engine.rules.kinds() imports this module and finds none); it is
imported when a threshold is checked, and imports no HTTP library itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from engine.facts.prometheus import PrometheusError, format_labels
from engine.times import format_duration, format_time

if TYPE_CHECKING:
    from engine.facts.interface import PrometheusAPI
    from engine.facts.prometheus import ErrorKind, Labels, QueryResult

__all__ = [
    "Condition",
    "SeriesVerdict",
    "ThresholdResult",
    "Verdict",
    "default_step",
    "evaluate_threshold",
    "judge_instant",
    "judge_range",
]

Verdict = Literal["pass", "fail", "no_data", "error"]


@dataclass(frozen=True)
class Condition:
    """What every value must satisfy: below (<), above (>), between (inclusive)."""

    below: float | None = None
    above: float | None = None
    between: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.below is None and self.above is None and self.between is None:
            raise ValueError("a threshold needs at least one of below, above or between")
        bounds = [b for b in (self.below, self.above) if b is not None]
        if self.between is not None:
            if len(self.between) != 2 or self.between[0] > self.between[1]:
                raise ValueError(f"between must be (low, high) with low <= high, got {self.between}")
            bounds.extend(self.between)
        if any(math.isnan(b) for b in bounds):
            raise ValueError("threshold bounds must be numbers, not NaN")

    def holds(self, value: float) -> bool:
        """True only for a finite value meeting every bound (NaN/±Inf prove nothing)."""
        if not math.isfinite(value):
            return False
        if self.below is not None and not value < self.below:
            return False
        if self.above is not None and not value > self.above:
            return False
        return self.between is None or self.between[0] <= value <= self.between[1]

    def describe(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f"above {self.above:g}")
        if self.below is not None:
            parts.append(f"below {self.below:g}")
        if self.between is not None:
            parts.append(f"between {self.between[0]:g} and {self.between[1]:g}")
        return " and ".join(parts)

    def why_not(self, value: float) -> str:
        """Why ``value`` fails, in words."""
        if math.isnan(value):
            return f"the value is NaN, which cannot show it is {self.describe()}"
        if math.isinf(value):
            return f"the value is {value:+}, which cannot show it is {self.describe()}"
        return f"{value:g} is not {self.describe()}"


class SeriesVerdict(NamedTuple):
    """How one series fared: its decisive value and, if it violated, why."""

    labels: Labels
    value: float  # first violating value, or the latest value when it held
    timestamp: float  # when ``value`` was seen
    violated: bool
    reason: str
    missing_steps: int = 0
    points: tuple[tuple[float, float], ...] = ()  # (time, value) the series had, for a plot of the window

    @property
    def name(self) -> str:
        return format_labels(self.labels)


class ThresholdResult(NamedTuple):
    """The outcome of a threshold check, with what was seen and what was required."""

    verdict: Verdict
    query: str
    required: str
    at: float
    for_: float | None
    step: float | None
    series: tuple[SeriesVerdict, ...]
    message: str
    error_kind: ErrorKind | None = None

    @property
    def failing(self) -> tuple[SeriesVerdict, ...]:
        return tuple(item for item in self.series if item.violated)


def _required(condition: Condition, at: float, for_: float | None, step: float | None) -> str:
    if for_ is None or step is None:
        return f"every series {condition.describe()} at {format_time(at)}"
    return (
        f"every series {condition.describe()} at every {format_duration(step)} step of the "
        f"{format_duration(for_)} window ending {format_time(at)}"
    )


def _summarise(verdicts: tuple[SeriesVerdict, ...], condition: Condition) -> tuple[Verdict, str]:
    failing = [item for item in verdicts if item.violated]
    if not failing:
        count = len(verdicts)
        noun = "series is" if count == 1 else f"{count} series are"
        return "pass", f"{'the' if count == 1 else 'all'} {noun} {condition.describe()}"
    shown = "; ".join(f"{item.name}: {item.reason}" for item in failing[:5])
    more = f"; and {len(failing) - 5} more" if len(failing) > 5 else ""
    return "fail", f"{len(failing)} of {len(verdicts)} series violate: {shown}{more}"


def _error_result(
    error: PrometheusError,
    query: str,
    required: str,
    at: float,
    for_: float | None,
    step: float | None,
) -> ThresholdResult:
    return ThresholdResult("error", query, required, at, for_, step, (), error.message, error.kind)


def judge_instant(result: QueryResult, condition: Condition, *, query: str, at: float) -> ThresholdResult:
    """Judge an instant query's answer; pure, so it is testable on recorded answers."""
    required = _required(condition, at, None, None)
    if result.result_type == "string":
        return _error_result(
            PrometheusError(
                "bad_query",
                f"the query returns a string ({result.text!r}), not a number; "
                "a threshold needs an expression that yields numbers",
            ),
            query,
            required,
            at,
            None,
            None,
        )
    if result.result_type == "matrix":
        return _error_result(
            PrometheusError(
                "bad_query",
                "the query returns a range vector (a selector like x[5m]); wrap it in a "
                "function such as max_over_time(...) or rate(...) to get one number per series",
            ),
            query,
            required,
            at,
            None,
            None,
        )
    if not result.series:
        return ThresholdResult(
            "no_data",
            query,
            required,
            at,
            None,
            None,
            (),
            f"the query returned no series at {format_time(at)}: no data to judge",
        )
    verdicts = []
    for series in result.series:
        sample = series.samples[-1]
        held = condition.holds(sample.value)
        reason = "" if held else f"{condition.why_not(sample.value)} at {format_time(sample.timestamp)}"
        verdicts.append(SeriesVerdict(series.labels, sample.value, sample.timestamp, not held, reason,
                                      points=((sample.timestamp, sample.value),)))
    ordered = tuple(verdicts)
    verdict, message = _summarise(ordered, condition)
    return ThresholdResult(verdict, query, required, at, None, None, ordered, message)


def _step_times_ms(start: float, end: float, step: float) -> range:
    """The evaluation times Prometheus uses for a range query, in integer milliseconds."""
    return range(round(start * 1000), round(end * 1000) + 1, round(step * 1000))


def judge_range(
    result: QueryResult,
    condition: Condition,
    *,
    query: str,
    at: float,
    for_: float,
    step: float,
) -> ThresholdResult:
    """Judge a range query over [at - for_, at]: every step of every series must hold."""
    required = _required(condition, at, for_, step)
    if result.result_type not in ("matrix", "vector", "scalar"):
        return _error_result(
            PrometheusError("bad_query", f"a range query answered {result.result_type}, not numbers"),
            query,
            required,
            at,
            for_,
            step,
        )
    if not result.series:
        return ThresholdResult(
            "no_data",
            query,
            required,
            at,
            for_,
            step,
            (),
            f"the query returned no series in the {format_duration(for_)} window ending "
            f"{format_time(at)}: no data to judge",
        )
    expected = _step_times_ms(at - for_, at, step)
    verdicts = []
    for series in result.series:
        by_time = {round(sample.timestamp * 1000): sample.value for sample in series.samples}
        missing = [ms for ms in expected if ms not in by_time]
        bad = [(ms, by_time[ms]) for ms in expected if ms in by_time and not condition.holds(by_time[ms])]
        reasons = []
        if bad:
            first_ms, first_value = bad[0]
            reason = f"{condition.why_not(first_value)} at {format_time(first_ms / 1000)}"
            if len(bad) > 1:
                reason += f" (and at {len(bad) - 1} more of {len(expected)} steps)"
            reasons.append(reason)
        if missing:
            reasons.append(
                f"no value at {len(missing)} of {len(expected)} steps (first at "
                f"{format_time(missing[0] / 1000)}), so the condition is not proven there"
            )
        if bad:
            value, seen_ms = bad[0][1], bad[0][0]
        elif series.samples:
            value, seen_ms = (
                series.samples[-1].value,
                round(series.samples[-1].timestamp * 1000),
            )
        else:
            value, seen_ms = math.nan, expected[-1]
        verdicts.append(
            SeriesVerdict(
                series.labels,
                value,
                seen_ms / 1000,
                bool(reasons),
                "; ".join(reasons),
                len(missing),
                tuple((sample.timestamp, sample.value) for sample in series.samples),
            )
        )
    ordered = tuple(verdicts)
    verdict, message = _summarise(ordered, condition)
    if verdict == "pass":
        message += f" at every {format_duration(step)} step of the {format_duration(for_)} window"
    return ThresholdResult(verdict, query, required, at, for_, step, ordered, message)


def default_step(for_: float) -> float:
    """15 s (a common scrape interval), widened so a window has at most 1,000 steps."""
    return max(15.0, math.ceil(for_ / 1000))


def evaluate_threshold(
    client: PrometheusAPI,
    query: str,
    *,
    below: float | None = None,
    above: float | None = None,
    between: tuple[float, float] | None = None,
    for_: float | None = None,
    at: float | None = None,
    step: float | None = None,
) -> ThresholdResult:
    """Ask Prometheus and judge the answer (see the module docstring for the semantics).

    ``at`` defaults to now; pass it explicitly to make the decision reproducible.
    Server trouble becomes an ``error`` verdict, never an exception.
    """
    import time

    condition = Condition(below=below, above=above, between=between)
    when = time.time() if at is None else at
    if for_ is not None and for_ < 0:
        raise ValueError(f"for_ must be >= 0 seconds, got {for_}")
    if not for_:
        try:
            result = client.query(query, at=when)
        except PrometheusError as error:
            return _error_result(error, query, _required(condition, when, None, None), when, None, None)
        return judge_instant(result, condition, query=query, at=when)
    width = default_step(for_) if step is None else step
    if width <= 0:
        raise ValueError(f"step must be positive, got {width}")
    try:
        result = client.query_range(query, start=when - for_, end=when, step=width)
    except PrometheusError as error:
        return _error_result(error, query, _required(condition, when, for_, width), when, for_, width)
    return judge_range(result, condition, query=query, at=when, for_=for_, step=width)

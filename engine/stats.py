"""Compare a candidate measurement with a baseline, respecting evaluation noise.

An LLM evaluation of a few hundred items moves by a point or two between identical runs,
so "candidate < baseline" is not a regression by itself. `compare` builds a confidence
interval for the regression and judges it against the allowed margin:

- pass: the whole interval is within the margin (the regression, if any, is small);
- fail: the whole interval is beyond the margin (a regression larger than allowed);
- inconclusive: the interval straddles the margin (the data cannot tell).

The interval's method follows the uncertainty both sides record: binomial counts
(Wilson / Newcombe), samples (Welch's t, or an explicit bootstrap), standard errors
(Welch's t with known n, else normal), or nothing at all (a point comparison that says it
has no confidence statement). scipy is imported inside the functions that need it: the
git hook imports the engine package and must stay fast.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from engine.facts.results import Measurement

Verdict = Literal["pass", "fail", "inconclusive"]
Method = Literal[
    "newcombe", "wilson", "welch", "t", "normal", "bootstrap", "point", "none",
    "mcnemar-mid-p", "mcnemar-exact", "paired-bootstrap",
]
MethodChoice = Literal["auto", "bootstrap"]
PairedChoice = Literal["auto", "off"]
McNemarChoice = Literal["mid-p", "exact"]
IntervalAt = Callable[[float], "Interval"]

# Below this many values per side a bootstrap resample has too few distinct means for its
# percentiles to mean anything; Welch's t (wide quantiles at small df) is the honest choice.
MIN_BOOTSTRAP_SAMPLES = 10
BOOTSTRAP_RESAMPLES = 9999


class StatsError(Exception):
    """The comparison cannot be made as asked (bad margin, confidence, inputs)."""


class MissingBaselineError(StatsError):
    """There is no baseline to compare with, and no absolute bound to judge alone.

    Callers map this to their own policy (deny, warn, or allow the first measurement).
    """


class Interval(NamedTuple):
    """A two-sided confidence interval."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"[{_fmt(self.low)}, {_fmt(self.high)}]"


@dataclass(frozen=True)
class Margin:
    """The regression allowed, as an absolute amount, and how it was derived."""

    absolute: float
    relative: float | None  # the fraction asked for, when given as "N%"
    note: str  # how the absolute amount came about, for the explanation


@dataclass(frozen=True)
class BoundCheck:
    """The candidate judged against an absolute `min` or `max`."""

    bound: Literal["min", "max"]
    limit: float
    verdict: Verdict
    interval: Interval | None  # the candidate's own interval; None for a point check
    method: Method
    explanation: str


@dataclass(frozen=True)
class Comparison:
    """What was compared, how, what was seen, and the verdict with its reason.

    `difference` is candidate - baseline; `regression` is how much worse the candidate
    is (positive = worse), i.e. baseline - candidate when higher is better. Intervals are
    two-sided at `confidence`. Both are None when there is no baseline (bounds only).
    """

    verdict: Verdict
    metric: str
    candidate: Measurement
    baseline: Measurement | None
    higher_is_better: bool
    confidence: float
    method: Method
    difference: float | None
    difference_ci: Interval | None
    regression: float | None
    regression_ci: Interval | None
    margin: Margin | None
    bounds: tuple[BoundCheck, ...]
    explanation: str
    # the difference interval at any confidence, for p-values (None: point or bounds only)
    interval_at: IntervalAt | None = field(default=None, repr=False, compare=False)

    @property
    def has_confidence_statement(self) -> bool:
        """False when some verdict rests on point values alone."""
        return self.method != "point" and all(b.method != "point" for b in self.bounds)

    @property
    def paired(self) -> bool:
        """Whether candidate and baseline were compared item by item."""
        return self.method in ("mcnemar-mid-p", "mcnemar-exact", "paired-bootstrap")

    def p_value(self) -> float | None:
        """The p-value of "the regression is beyond the margin" (None without an interval).

        It is the smallest 1 - confidence at which the interval of the regression lies
        wholly beyond the margin, found by bisection on the method's own interval, so a
        p-value below 1 - confidence is exactly the single-metric "fail" verdict. This is
        what multiple-comparison corrections (engine.suites) adjust.
        """
        if self.interval_at is None or self.margin is None:
            return None
        at, margin, hib = self.interval_at, self.margin.absolute, self.higher_is_better

        def low(confidence: float) -> float:
            ci = at(confidence)
            return -ci.high if hib else ci.low

        if low(1e-9) <= margin:
            return 1.0
        lo, hi = 1e-9, 1.0 - 1e-12  # low() falls as confidence rises
        if low(hi) > margin:
            return 1e-12
        for _ in range(60):
            mid = (lo + hi) / 2
            if low(mid) > margin:
                lo = mid
            else:
                hi = mid
        return 1.0 - (lo + hi) / 2


def compare(
    candidate: Measurement,
    baseline: Measurement | None,
    *,
    higher_is_better: bool | None = None,
    max_regression: float | str = 0.0,
    confidence: float = 0.95,
    min: float | None = None,  # the policy's own word
    max: float | None = None,  # the policy's own word
    method: MethodChoice = "auto",
    seed: int = 0,
    paired: PairedChoice = "auto",
    mcnemar: McNemarChoice = "mid-p",
) -> Comparison:
    """Judge `candidate` against `baseline` (and optional absolute bounds).

    `higher_is_better` defaults to the candidate's own hint (pytest-benchmark timings
    are lower-is-better, lm-eval files say per metric), else True. `max_regression` is
    an absolute amount (0.01) or a share of the baseline ("2%"); a relative margin of a
    baseline of 0 is 0, said so in the explanation. `method="bootstrap"` asks for a
    bootstrap of the difference of means instead of Welch's t when both sides have
    samples (e.g. skewed latencies); `seed` makes it reproducible. When both sides carry
    per-item scores of the same items (`item_ids`), they are compared item by item
    (McNemar for 0/1 scores, a paired bootstrap otherwise) unless `paired="off"`.

    Raises MissingBaselineError when `baseline` is None and no bound is given.
    """
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be between 0 and 1 (exclusive), not {confidence!r}")
    lower_limit, upper_limit = min, max
    if lower_limit is not None and upper_limit is not None and lower_limit > upper_limit:
        raise StatsError(f"min {lower_limit} is above max {upper_limit}")
    hib = _direction(candidate, baseline, higher_is_better)
    checks: list[BoundCheck] = []
    if lower_limit is not None:
        checks.append(_check_bound(candidate, "min", lower_limit, confidence))
    if upper_limit is not None:
        checks.append(_check_bound(candidate, "max", upper_limit, confidence))
    bounds = tuple(checks)
    if baseline is None:
        if not bounds:
            raise MissingBaselineError(
                f"no baseline measurement of {candidate.metric} to compare with, and no "
                "min/max bound to judge the candidate alone; record a baseline run or set "
                "a bound"
            )
        verdict = _combine(b.verdict for b in bounds)
        return Comparison(
            verdict=verdict,
            metric=candidate.metric,
            candidate=candidate,
            baseline=None,
            higher_is_better=hib,
            confidence=confidence,
            method="none",
            difference=None,
            difference_ci=None,
            regression=None,
            regression_ci=None,
            margin=None,
            bounds=bounds,
            explanation=" ".join(
                [f"No baseline for {candidate.metric}; judged on bounds only."]
                + [b.explanation for b in bounds]
            ),
        )

    margin = parse_margin(max_regression, baseline.value)
    interval_at: IntervalAt | None
    if paired == "auto" and candidate.item_ids and baseline.item_ids:
        used, interval_at, how = _paired_interval(candidate, baseline, mcnemar, seed)
    else:
        used, interval_at, how = _difference_interval(candidate, baseline, method, seed)
    diff_ci = None if interval_at is None else interval_at(confidence)
    pct = f"{confidence:.0%}"
    how = how.replace("{pct}", pct)
    difference = candidate.value - baseline.value
    regression = -difference if hib else difference
    reg_ci = None if diff_ci is None else (
        Interval(-diff_ci.high, -diff_ci.low) if hib else diff_ci
    )
    verdict, reason = _judge(regression, reg_ci, margin, confidence)
    explanation = (
        f"{candidate.metric} ({'higher' if hib else 'lower'} is better): candidate "
        f"{candidate.describe()} vs baseline {baseline.describe()}; {reason} "
        f"Method: {how}.{' ' + margin.note if margin.note else ''}"
    )
    if bounds:
        explanation = " ".join([explanation] + [b.explanation for b in bounds])
    return Comparison(
        verdict=_combine([verdict, *(b.verdict for b in bounds)]),
        metric=candidate.metric,
        candidate=candidate,
        baseline=baseline,
        higher_is_better=hib,
        confidence=confidence,
        method=used,
        difference=difference,
        difference_ci=diff_ci,
        regression=regression,
        regression_ci=reg_ci,
        margin=margin,
        bounds=bounds,
        explanation=explanation,
        interval_at=interval_at,
    )


def parse_margin(max_regression: float | str, baseline_value: float) -> Margin:
    """Turn `0.01`, `"0.01"` or `"2%"` into an absolute allowed regression.

    A relative margin is a share of |baseline|. Of a baseline of exactly 0 it is
    undefined; we use 0 (any significant regression counts) rather than refuse, so a
    metric that starts at 0 can still be gated, and the explanation says so.
    """
    if isinstance(max_regression, bool):
        raise StatsError(f"max_regression must be a number or 'N%', not {max_regression!r}")
    if isinstance(max_regression, str):
        text = max_regression.strip()
        if text.endswith("%"):
            pct = _parse_float(text[:-1], max_regression)
            if pct < 0:
                raise StatsError(f"max_regression {max_regression!r} is negative")
            share = pct / 100.0
            if baseline_value == 0:
                return Margin(
                    0.0,
                    share,
                    f"(A relative margin of {text} of a baseline of 0 is undefined; "
                    "an absolute margin of 0 was used.)",
                )
            return Margin(share * abs(baseline_value), share, "")
        amount = _parse_float(text, max_regression)
    else:
        amount = float(max_regression)
    if not math.isfinite(amount) or amount < 0:
        raise StatsError(f"max_regression must be a finite amount >= 0, not {max_regression!r}")
    return Margin(amount, None, "")


def wilson_interval(successes: int, n: int, confidence: float) -> Interval:
    """Wilson score interval of a binomial proportion (no continuity correction).

    Written out rather than taken from scipy's binomtest (which gives the same numbers)
    because a suite's p-values evaluate it thousands of times.
    """
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    successes1: int, n1: int, successes2: int, n2: int, confidence: float
) -> Interval:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2.

    It combines the two Wilson intervals: unlike the Wald interval it stays inside
    [-1, 1] and keeps its coverage near 0 or 1 and at small n, where evals often live.
    """
    p1, p2 = successes1 / n1, successes2 / n2
    l1, u1 = wilson_interval(successes1, n1, confidence)
    l2, u2 = wilson_interval(successes2, n2, confidence)
    delta = p1 - p2
    return Interval(
        delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def welch_interval(
    sample1: Sequence[float], sample2: Sequence[float], confidence: float
) -> Interval:
    """Welch's t-interval of mean(sample1) - mean(sample2) (unequal variances)."""
    if _constant(sample1) and _constant(sample2):
        # scipy returns nan here; with no spread on either side the difference is exact.
        d = statistics.fmean(sample1) - statistics.fmean(sample2)
        return Interval(d, d)
    from scipy.stats import ttest_ind

    ci = ttest_ind(sample1, sample2, equal_var=False).confidence_interval(confidence)
    return Interval(float(ci.low), float(ci.high))


def welch_interval_from_stats(
    difference: float, se1: float, n1: int, se2: float, n2: int, confidence: float
) -> Interval:
    """Welch's t-interval from standard errors and sizes (Welch-Satterthwaite df)."""
    from scipy.stats import t

    var = se1**2 + se2**2
    if var == 0:
        return Interval(difference, difference)
    df = var**2 / (se1**4 / (n1 - 1) + se2**4 / (n2 - 1))
    half = float(t.ppf((1 + confidence) / 2, df)) * math.sqrt(var)
    return Interval(difference - half, difference + half)


def normal_interval(difference: float, se1: float, se2: float, confidence: float) -> Interval:
    """Normal interval of a difference of independent estimates: sqrt(se1² + se2²)."""
    from scipy.stats import norm

    half = float(norm.ppf((1 + confidence) / 2)) * math.hypot(se1, se2)
    return Interval(difference - half, difference + half)


def bootstrap_interval(
    sample1: Sequence[float], sample2: Sequence[float], confidence: float, seed: int
) -> Interval:
    """BCa bootstrap interval of mean(sample1) - mean(sample2), reproducible by `seed`."""
    import numpy as np
    from scipy.stats import bootstrap

    if _constant(sample1) and _constant(sample2):
        d = statistics.fmean(sample1) - statistics.fmean(sample2)
        return Interval(d, d)

    def mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)  # type: ignore[no-any-return]

    result = bootstrap(
        (np.asarray(sample1, dtype=float), np.asarray(sample2, dtype=float)),
        mean_difference,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(float(ci.low), float(ci.high))


# ---------------------------------------------------------------------------------------
# Choosing the method
# ---------------------------------------------------------------------------------------


def _difference_interval(
    cand: Measurement, base: Measurement, method: MethodChoice, seed: int
) -> tuple[Method, IntervalAt | None, str]:
    """Pick the strongest method both sides support; return it, its interval at any
    confidence, and why (`{pct}` in the text stands for the confidence)."""
    if method == "bootstrap":
        for side, m in (("candidate", cand), ("baseline", base)):
            if len(m.samples) < MIN_BOOTSTRAP_SAMPLES:
                raise StatsError(
                    f"a bootstrap needs at least {MIN_BOOTSTRAP_SAMPLES} samples per side; "
                    f"the {side} has {len(m.samples)}: use method 'auto' (Welch's t)"
                )
        return "bootstrap", lambda c: bootstrap_interval(cand.samples, base.samples, c, seed), (
            "{pct} BCa bootstrap interval of the difference of means, "
            f"{BOOTSTRAP_RESAMPLES} resamples"
        )
    if method != "auto":
        raise StatsError(f"unknown method {method!r}; use 'auto' or 'bootstrap'")

    missing = [side for side, m in (("candidate", cand), ("baseline", base))
               if not m.has_uncertainty]
    if missing:
        return "point", None, (
            f"point comparison without a confidence statement: the {' and the '.join(missing)} "
            "records no uncertainty (no stderr, samples or item count)"
        )
    c_counts, b_counts = _counts(cand), _counts(base)
    if c_counts and b_counts:
        return "newcombe", lambda c: newcombe_interval(*c_counts, *b_counts, c), (
            "{pct} Newcombe hybrid score interval of the difference of proportions, "
            f"{c_counts[0]}/{c_counts[1]} vs {b_counts[0]}/{b_counts[1]}"
        )
    if len(cand.samples) >= 2 and len(base.samples) >= 2:
        return "welch", lambda c: welch_interval(cand.samples, base.samples, c), (
            "{pct} Welch t-interval of the difference of means, "
            f"{len(cand.samples)} vs {len(base.samples)} samples"
        )
    c_se, b_se = _stderr(cand), _stderr(base)
    assert c_se is not None and b_se is not None  # has_uncertainty guarantees one
    diff = cand.value - base.value
    c_n, b_n = _size(cand), _size(base)
    notes = "".join(f"; {note}" for note in (c_se[1], b_se[1]) if note)
    if c_n is not None and b_n is not None and c_n >= 2 and b_n >= 2:
        return "welch", lambda c: welch_interval_from_stats(diff, c_se[0], c_n, b_se[0], b_n, c), (
            f"{{pct}} Welch t-interval from standard errors, n={c_n} vs n={b_n}{notes}"
        )
    return "normal", lambda c: normal_interval(diff, c_se[0], b_se[0], c), (
        f"{{pct}} normal interval, sqrt(se1² + se2²){notes}"
    )


# ---------------------------------------------------------------------------------------
# Paired comparisons (the same items scored on both sides)
# ---------------------------------------------------------------------------------------

PAIRED_BOOTSTRAP_RESAMPLES = 9999


def _paired_interval(
    cand: Measurement, base: Measurement, mcnemar: McNemarChoice, seed: int
) -> tuple[Method, IntervalAt, str]:
    """Pair the per-item scores by item id; McNemar for 0/1 scores, else a paired bootstrap.

    Both sides must hold the same items: comparing a subset would judge items other than
    the ones each side's value was computed on, so a mismatch is an error, not a guess.
    """
    c_items = dict(zip(cand.item_ids, cand.samples, strict=True))
    b_items = dict(zip(base.item_ids, base.samples, strict=True))
    if c_items.keys() != b_items.keys():
        only_c = sorted(c_items.keys() - b_items.keys())
        only_b = sorted(b_items.keys() - c_items.keys())
        raise StatsError(
            f"{cand.metric}: candidate and baseline per-item scores are not of the same items "
            f"({len(only_c)} only in the candidate, e.g. {only_c[:3]}; {len(only_b)} only in the "
            f"baseline, e.g. {only_b[:3]}); evaluate both on the same items (same --limit, "
            "same dataset revision) or set paired: false"
        )
    ids = sorted(c_items)
    pairs = [(c_items[i], b_items[i]) for i in ids]
    n = len(pairs)
    if all(x in (0.0, 1.0) and y in (0.0, 1.0) for x, y in pairs):
        gains = sum(1 for x, y in pairs if x > y)
        losses = sum(1 for x, y in pairs if x < y)
        used: Method = "mcnemar-mid-p" if mcnemar == "mid-p" else "mcnemar-exact"
        return used, lambda c: mcnemar_interval(gains, losses, n, c, mid_p=mcnemar == "mid-p"), (
            f"{{pct}} paired McNemar {mcnemar} interval of the difference on the same {n} items "
            f"({gains} items only the candidate gets right, {losses} only the baseline)"
        )
    if n < MIN_BOOTSTRAP_SAMPLES:
        raise StatsError(
            f"{cand.metric}: a paired bootstrap needs at least {MIN_BOOTSTRAP_SAMPLES} items; "
            f"there are {n}"
        )
    replicates = paired_bootstrap_replicates([x - y for x, y in pairs], seed)
    return "paired-bootstrap", lambda c: _percentile_interval(replicates, c), (
        f"{{pct}} paired bootstrap (percentile) interval of the mean per-item difference on the "
        f"same {n} items, {PAIRED_BOOTSTRAP_RESAMPLES} resamples"
    )


def mcnemar_interval(
    gains: int, losses: int, n: int, confidence: float, *, mid_p: bool = True
) -> Interval:
    """Interval of the paired difference of proportions (candidate - baseline) on n items.

    McNemar's test looks only at the discordant items (d = gains + losses): given d, the
    gains are Binomial(d, θ) and the difference is d/n · (2θ - 1). θ's interval inverts the
    same binomial tails McNemar's exact (Clopper-Pearson) or mid-p test uses, so the
    interval excludes a difference exactly when that test rejects it. Conditioning on d
    alone would call 0 discordant items "exactly no difference", so the scale d/n is also
    widened to the exact upper bound of the discordance rate: never narrower than the
    conditional interval, and honest when few items disagree.
    """
    from scipy.stats import beta

    alpha = 1.0 - confidence
    d = gains + losses
    if d == 0:
        theta_low, theta_high = 0.0, 1.0
    else:
        theta_low, theta_high = _binomial_bounds(gains, d, alpha, mid_p)
    rate = d / n
    rate_high = 1.0 if d == n else float(beta.ppf(1 - alpha / 2, d + 1, n - d))
    low_factor, high_factor = 2 * theta_low - 1, 2 * theta_high - 1
    return Interval(
        min(rate * low_factor, rate_high * low_factor),
        max(rate * high_factor, rate_high * high_factor),
    )


def _binomial_bounds(k: int, d: int, alpha: float, mid_p: bool) -> tuple[float, float]:
    """Two-sided (1 - alpha) bounds for a binomial share: Clopper-Pearson or mid-p."""
    from scipy.optimize import brentq
    from scipy.stats import beta, binom

    if not mid_p:
        low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, d - k + 1))
        high = 1.0 if k == d else float(beta.ppf(1 - alpha / 2, k + 1, d - k))
        return low, high

    def upper_tail(theta: float) -> float:  # P(X > k) + P(X = k)/2, rises with theta
        return float(binom.sf(k, d, theta) + 0.5 * binom.pmf(k, d, theta)) - alpha / 2

    def lower_tail(theta: float) -> float:  # P(X < k) + P(X = k)/2, falls with theta
        return float(binom.cdf(k - 1, d, theta) + 0.5 * binom.pmf(k, d, theta)) - alpha / 2

    eps = 1e-15
    low = 0.0 if k == 0 else float(brentq(upper_tail, eps, 1 - eps, xtol=1e-14))
    high = 1.0 if k == d else float(brentq(lower_tail, eps, 1 - eps, xtol=1e-14))
    return low, high


def paired_bootstrap_replicates(differences: Sequence[float], seed: int) -> Sequence[float]:
    """Means of `differences` resampled with replacement, item pairs kept together.

    Drawn in chunks so 10,000 items x 9,999 resamples never sit in memory at once.
    """
    import numpy as np

    d = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    out = np.empty(PAIRED_BOOTSTRAP_RESAMPLES)
    chunk = max(1, 2_000_000 // max(1, len(d)))
    for start in range(0, PAIRED_BOOTSTRAP_RESAMPLES, chunk):
        size = min(chunk, PAIRED_BOOTSTRAP_RESAMPLES - start)
        idx = rng.integers(0, len(d), size=(size, len(d)))
        out[start:start + size] = d[idx].mean(axis=1)
    out.sort()
    return tuple(float(x) for x in out)


def _percentile_interval(sorted_replicates: Sequence[float], confidence: float) -> Interval:
    import numpy as np

    alpha = 1.0 - confidence
    low, high = np.quantile(np.asarray(sorted_replicates), [alpha / 2, 1 - alpha / 2])
    return Interval(float(low), float(high))


def _counts(m: Measurement) -> tuple[int, int] | None:
    """(successes, n) when `m` is a proportion of whole items, else None."""
    if not m.proportion or m.n is None or not 0.0 <= m.value <= 1.0:
        return None
    k = round(m.value * m.n)
    # A value that is not k/n (rounded in a report, or an average of partial credit)
    # is not a binomial count: leave it to the stderr methods.
    if abs(m.value * m.n - k) > 1e-6 * m.n:
        return None
    return k, m.n


def standard_error(m: Measurement) -> float | None:
    """The standard error of `m`, recorded or derived (samples, or p(1-p)/n); None if unknown."""
    se = _stderr(m)
    return None if se is None else se[0]


def _stderr(m: Measurement) -> tuple[float, str] | None:
    """The standard error of `m`, recorded or derived, and a note when derived."""
    if m.stderr is not None:
        return m.stderr, ""
    if len(m.samples) >= 2:
        return (
            statistics.stdev(m.samples) / math.sqrt(len(m.samples)),
            f"{m.metric} stderr derived from {len(m.samples)} samples",
        )
    if m.proportion and m.n is not None:
        p = m.value
        return math.sqrt(p * (1 - p) / m.n), f"{m.metric} stderr derived as sqrt(p(1-p)/n)"
    return None


def _size(m: Measurement) -> int | None:
    return len(m.samples) if len(m.samples) >= 2 else m.n


# ---------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------


def _judge(
    regression: float, ci: Interval | None, margin: Margin, confidence: float
) -> tuple[Verdict, str]:
    allowed = f"the allowed {_fmt(margin.absolute)}" + (
        f" ({margin.relative * 100:g}% of the baseline)" if margin.relative and margin.absolute else ""
    )
    seen = (
        f"regression {_fmt(regression)}" if regression > 0
        else f"improvement {_fmt(-regression)}" if regression < 0 else "no change"
    )
    if ci is None:
        if regression <= margin.absolute:
            return "pass", f"{seen}, within {allowed}."
        return "fail", f"{seen}, beyond {allowed}."
    pct = f"{confidence:.0%}"
    if ci.high <= margin.absolute:
        return "pass", (
            f"{seen}; the {pct} interval of the regression {ci} stays within {allowed}."
        )
    if ci.low > margin.absolute:
        return "fail", (
            f"{seen}; the {pct} interval of the regression {ci} lies beyond {allowed}: "
            "a significant regression."
        )
    return "inconclusive", (
        f"{seen}; the {pct} interval of the regression {ci} straddles {allowed}: the data "
        "cannot tell whether the regression exceeds it (more items or runs narrow it)."
    )


def _check_bound(
    m: Measurement, kind: Literal["min", "max"], limit: float, confidence: float
) -> BoundCheck:
    """Judge the candidate alone against an absolute limit, with its own interval."""
    method, ci, how = _own_interval(m, confidence)
    word = "at least" if kind == "min" else "at most"
    if ci is None:
        ok = m.value >= limit if kind == "min" else m.value <= limit
        verdict: Verdict = "pass" if ok else "fail"
        text = (
            f"{m.metric} {_fmt(m.value)} must be {word} {_fmt(limit)}: {verdict} "
            f"(point comparison without a confidence statement)."
        )
        return BoundCheck(kind, limit, verdict, None, method, text)
    if kind == "min":
        verdict = "pass" if ci.low >= limit else "fail" if ci.high < limit else "inconclusive"
    else:
        verdict = "pass" if ci.high <= limit else "fail" if ci.low > limit else "inconclusive"
    text = (
        f"{m.metric} {_fmt(m.value)} must be {word} {_fmt(limit)}: {verdict}, its {how} is {ci}."
    )
    return BoundCheck(kind, limit, verdict, ci, method, text)


def _own_interval(m: Measurement, confidence: float) -> tuple[Method, Interval | None, str]:
    pct = f"{confidence:.0%}"
    counts = _counts(m)
    if counts:
        return "wilson", wilson_interval(*counts, confidence), f"{pct} Wilson interval"
    if len(m.samples) >= 2:
        if _constant(m.samples):
            return "t", Interval(m.samples[0], m.samples[0]), f"{pct} t-interval"
        from scipy.stats import ttest_1samp

        ci = ttest_1samp(m.samples, 0.0).confidence_interval(confidence)
        return "t", Interval(float(ci.low), float(ci.high)), f"{pct} t-interval"
    se = _stderr(m)
    if se is None:
        return "point", None, "point value"
    if m.n is not None and m.n >= 2:
        from scipy.stats import t

        half = float(t.ppf((1 + confidence) / 2, m.n - 1)) * se[0]
        return "t", Interval(m.value - half, m.value + half), f"{pct} t-interval"
    from scipy.stats import norm

    half = float(norm.ppf((1 + confidence) / 2)) * se[0]
    return "normal", Interval(m.value - half, m.value + half), f"{pct} normal interval"


def _direction(cand: Measurement, base: Measurement | None, explicit: bool | None) -> bool:
    if explicit is not None:
        return explicit
    for m in (cand, base):
        if m is not None and m.higher_is_better is not None:
            return m.higher_is_better
    return True


def _combine(verdicts: Iterable[Verdict]) -> Verdict:
    seen = set(verdicts)
    if "fail" in seen:
        return "fail"
    if "inconclusive" in seen:
        return "inconclusive"
    return "pass"


def _constant(xs: Sequence[float]) -> bool:
    return all(x == xs[0] for x in xs)


def _parse_float(text: str, original: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise StatsError(
            f"max_regression {original!r} is neither a number nor a percentage like '2%'"
        ) from None


def _fmt(x: float) -> str:
    return f"{x:.4g}"

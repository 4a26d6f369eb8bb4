"""`require: {benchmark: ...}`: the change's evaluation results may not regress beyond a margin.

The candidate (`results`) and the `baseline` each come from one source:

* `evidence`: the metrics of the accepted dry-run evidence of the tree being judged
  (the tree of the update's new commit);
* `refs/...`: the metrics of the accepted dry-run evidence of that ref's current tree;
* `{file: PATH, key?, stderr_key?, n_key?}`: a result file, read as `format` says
  (lm-eval, pytest-benchmark, json); a relative PATH resolves against the current working
  directory (CI jobs run from the checkout). For `json`, `key` is the key path of the
  value (default: the metric name) and `stderr_key` / `n_key` point at its uncertainty;
* `{mlflow: {run_id | experiment_ids + filter/run_name, mode}}`: an MLflow tracking
  server (sources.mlflow). `{tree}` and `{commit}` in `filter` and `run_name` become the
  judged update's new tree and commit, so a policy can find the run logged for a change.

`engine.stats.compare` judges, with the uncertainty both sides record: pass, fail, or
inconclusive (the interval straddles the margin; `on_inconclusive` decides, default
deny). `max_regression` is absolute (0.01) or relative to the baseline ("2%"; of a
baseline of 0 it is 0, and the outcome says so). A source that cannot be read is an
error (`on_error`, default deny). A configured baseline that does not exist (no such
file, ref, or accepted evidence) is reported as missing: with `min`/`max` the candidate
is judged on those bounds alone and a pass becomes a warning naming the missing
baseline; without bounds it is an error (`on_error`; `allow` admits a first measurement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule, short

if TYPE_CHECKING:
    from engine.facts.interface import Facts
    from engine.facts.results import Measurement

Action = Literal["deny", "allow", "warn"]
Source = str | dict[str, Any]  # "evidence", "refs/...", {file: ...} or {mlflow: {...}}


class BenchmarkParams(NamedTuple):
    results: Source
    metric: str
    baseline: Source | None = None
    format: Literal["lm-eval", "pytest-benchmark", "json", "mlflow", "evidence"] | None = None
    min: float | None = None
    max: float | None = None
    max_regression: float | str = 0.0  # absolute, or "2%" of the baseline
    confidence: float = 0.95
    higher_is_better: bool | None = None  # None: from the metric's name and format
    on_inconclusive: Action = "deny"
    on_error: Action = "deny"


_WORST = {"pass": 0, "skip": 0, "warn": 1, "fail": 2, "error": 3}


class SourceError(Exception):
    """A results source could not be read (its message says which and why)."""


class MissingSource(SourceError):
    """A results source does not exist (yet): no file, ref or accepted evidence."""


class RequireBenchmark(Rule):
    kind = "require.benchmark"
    Params = BenchmarkParams
    params: BenchmarkParams
    default_stages = ("merge", "deploy")
    live = True

    @classmethod
    def sources(cls, params: BenchmarkParams) -> tuple[str, ...]:
        sides = (params.results, params.baseline)
        return ("mlflow",) if any(isinstance(s, dict) and "mlflow" in s for s in sides) else ()

    @classmethod
    def needs_trust(cls, params: BenchmarkParams) -> bool:
        return any(isinstance(s, str) for s in (params.results, params.baseline))

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        judged: dict[str, tuple[RefUpdate, Outcome]] = {}
        for update in updates:
            if update.kind != "deletion" and update.new not in judged:
                judged[update.new] = (update, self._judge(facts, update))
        if not judged:
            return self.outcome("skip", "only deletions: no results to judge")
        if len(judged) == 1:
            return next(iter(judged.values()))[1]
        worst = max((o for _, o in judged.values()), key=lambda o: _WORST[o.status])
        seen = [f"{u.name}: [{o.status}] {o.message}" for u, o in judged.values()]
        return worst._replace(message=f"{len(judged)} updates judged; worst: {worst.message}", seen=tuple(seen))

    def _judge(self, facts: Facts, update: RefUpdate) -> Outcome:
        from engine.stats import StatsError, compare

        p = self.params
        metric, on_error = p.metric, p.on_error
        bounds = {k: v for k, v in (("min", p.min), ("max", p.max)) if v is not None}
        required = _required(p)
        try:
            candidate = self._read(facts, p.results, update)
        except SourceError as exc:
            return self.by_action(on_error, f"cannot read the candidate's {metric}: {exc}", required=required,
                                  error=True, fix=_source_fix(p.results))
        baseline: Measurement | None = None
        missing = ""
        if p.baseline is not None:
            try:
                baseline = self._read(facts, p.baseline, update)
            except MissingSource as exc:
                missing = str(exc)
            except SourceError as exc:
                return self.by_action(on_error, f"cannot read the baseline's {metric}: {exc}",
                                      seen=[_seen("candidate", candidate)], required=required, error=True,
                                      fix=_source_fix(p.baseline))
        if baseline is None and not bounds:
            why = f"the baseline is missing: {missing}" if missing else "the rule gives no baseline, min or max"
            return self.by_action(
                on_error, f"{metric} cannot be judged: {why}", seen=[_seen("candidate", candidate)],
                required=required, error=True,
                fix="produce the baseline (e.g. run and record the dry-run of the base branch), or give min/max; "
                    "on_error: allow admits a first measurement")
        try:
            comparison = compare(
                candidate, baseline, higher_is_better=p.higher_is_better,
                max_regression=p.max_regression, confidence=p.confidence, min=p.min, max=p.max)
        except StatsError as exc:
            return self.by_action(on_error, f"{metric} cannot be compared: {exc}", required=required, error=True,
                                  fix="fix the benchmark rule's parameters")
        seen = [_seen("candidate", candidate)]
        seen.append(_seen("baseline", baseline) if baseline else f"baseline: missing ({missing})" if missing
                    else "baseline: none configured (bounds only)")
        message = comparison.explanation
        return self._plotted(self._verdict(comparison, message, seen, required, missing), comparison)

    def _plotted(self, outcome: Outcome, comparison: Any) -> Outcome:
        """The intervals behind the verdict, for the decision page's forest plot."""
        c = comparison
        return outcome._replace(data={
            "kind": "benchmark", "metric": c.metric, "higher_is_better": c.higher_is_better,
            "confidence": c.confidence, "method": c.method, "verdict": c.verdict,
            "candidate": _interval(c.candidate, c.confidence),
            "baseline": _interval(c.baseline, c.confidence) if c.baseline is not None else None,
            "regression": c.regression,
            "regression_ci": list(c.regression_ci) if c.regression_ci is not None else None,
            "max_regression": c.margin.absolute if c.margin is not None else None,
            "min": self.params.min, "max": self.params.max})

    def _verdict(self, comparison: Any, message: str, seen: list[str], required: str, missing: str) -> Outcome:
        p = self.params
        metric = p.metric
        if comparison.verdict == "pass":
            if missing:
                return self.outcome("warn", f"baseline missing ({missing}); judged on min/max only: {message}",
                                    seen=seen, required=required,
                                    fix="record the baseline so regressions can be judged")
            return self.outcome("pass", message, seen=seen, required=required)
        if comparison.verdict == "fail":
            return self.outcome("fail", message, seen=seen, required=required,
                                fix=f"improve {metric} (or fix the regression) and re-run the evaluation; "
                                    "a policy owner may raise max_regression")
        return self.by_action(p.on_inconclusive, f"inconclusive: {message}", seen=seen,
                              required=required,
                              fix="evaluate on more items or repeat the runs to narrow the interval, "
                                  "or record the uncertainty (stderr, samples) the comparison can use")

    # -- sources -----------------------------------------------------------------------

    def _read(self, facts: Facts, spec: Any, update: RefUpdate) -> Measurement:
        from engine.facts.results import ResultsError

        metric = self.params.metric
        try:
            if spec == "evidence":
                return _from_evidence(facts, facts.tree(update.new), metric, f"the evidence of {update.name}")
            if isinstance(spec, str):  # refs/...
                commit = facts.ref(spec)  # exact: never a guessed short name
                if commit is None:
                    raise MissingSource(f"the ref {spec} does not exist")
                return _from_evidence(facts, facts.tree(commit), metric, f"the evidence of {spec}")
            if "file" in spec:
                return self._from_file(facts, spec, metric)
            return self._from_mlflow(facts, spec["mlflow"], metric, update)
        except ResultsError as exc:
            raise SourceError(str(exc)) from None

    def _from_file(self, facts: Facts, spec: dict[str, Any], metric: str) -> Measurement:
        from engine.facts.results import read_json_metric, read_results

        path: str = spec["file"]
        fmt = self.params.format or ("json" if "key" in spec else None)
        if fmt is None:
            raise SourceError(f"say which format {path} is in: format: lm-eval, pytest-benchmark or json "
                              "(or give key: for a JSON key path)")
        if fmt not in ("lm-eval", "pytest-benchmark", "json"):
            raise SourceError(f"format {fmt!r} does not apply to a results file; use lm-eval, pytest-benchmark "
                              "or json")
        try:
            found = facts.working_file(path)
        except FileNotFoundError as exc:
            raise MissingSource(f"the results file {exc.filename} does not exist") from None
        if fmt == "json":
            return read_json_metric(found, spec.get("key") or metric, stderr_path=spec.get("stderr_key"),
                                    n_path=spec.get("n_key"), metric=metric)
        return read_results(fmt, found, metric)

    def _from_mlflow(self, facts: Facts, spec: dict[str, Any], metric: str, update: RefUpdate) -> Measurement:
        from engine.facts.mlflow import MlflowError, read_mlflow_metric

        tree = facts.tree(update.new)

        def fill(text: str | None) -> str | None:
            return None if text is None else text.replace("{tree}", tree).replace("{commit}", update.new)

        try:
            with facts.mlflow() as client:
                return read_mlflow_metric(
                    client, metric, run_id=spec.get("run_id"), experiment_ids=spec.get("experiment_ids", ()),
                    filter_string=fill(spec.get("filter")) or "", run_name=fill(spec.get("run_name")),
                    mode=spec.get("mode", "latest"))
        except MlflowError as exc:
            raise SourceError(str(exc)) from None


def _from_evidence(facts: Facts, tree: str, metric: str, what: str) -> Measurement:
    """`metric` from the accepted dry-run evidence of `tree`: the newest record that has it."""
    from engine.facts.evidence import find_evidence
    from engine.facts.interface import TrustError
    from engine.facts.results import measurement_from_mapping

    try:
        accepted, rejected = find_evidence(facts, tree)
    except TrustError as exc:
        raise SourceError(f"cannot check the signatures of {what}: {exc}") from None
    if not accepted:
        reasons = "; ".join(f"{r.source}: {r.reason} ({r.detail})" for r in rejected[:3])
        detail = f"; rejected: {reasons}" if rejected else ""
        raise MissingSource(f"no accepted dry-run evidence for tree {short(tree)} ({what}){detail}")
    newest_first = sorted(accepted, key=lambda a: str(a.predicate.get("finishedOn", "")), reverse=True)
    usable = [(a, a.predicate["metrics"]) for a in newest_first if isinstance(a.predicate.get("metrics"), dict)]
    for record, metrics in usable:
        if metric in metrics:
            return measurement_from_mapping(metrics, metric, source=f"{what}, {record.source}")
    have = sorted({name for _, m in usable for name in m})
    raise SourceError(f"{what} (tree {short(tree)}) records no metric {metric!r}; "
                      f"it records {', '.join(have) or 'no metrics'}")


def _seen(side: str, m: Measurement) -> str:
    return f"{side}: {m.metric} = {m.describe()} from {m.source}"


def _interval(m: Measurement, confidence: float) -> dict[str, Any]:
    """A measurement's value and, when its uncertainty is known, its two-sided interval (normal
    approximation: the plot shows the spread; the verdict used engine.stats' own method)."""
    import math
    from statistics import NormalDist, stdev

    stderr = m.stderr
    if stderr is None and len(m.samples) > 1:
        stderr = stdev(m.samples) / math.sqrt(len(m.samples))
    if stderr is None and m.proportion and m.n:
        stderr = math.sqrt(max(m.value * (1 - m.value), 0.0) / m.n)
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * stderr if stderr is not None else None
    return {"value": m.value, "low": m.value - half if half is not None else None,
            "high": m.value + half if half is not None else None, "n": m.n, "source": m.source}


def _required(p: BenchmarkParams) -> str:
    parts = []
    if p.baseline is not None:
        parts.append(f"no regression of {p.metric} beyond {p.max_regression or 0} against the baseline "
                     f"at {p.confidence:g} confidence")
    if p.min is not None:
        parts.append(f"{p.metric} at least {p.min:g}")
    if p.max is not None:
        parts.append(f"{p.metric} at most {p.max:g}")
    return "; ".join(parts) or f"a baseline, min or max for {p.metric}"


def _source_fix(spec: Any) -> str:
    if spec == "evidence" or isinstance(spec, str):
        return "record signed dry-run evidence with the metric (policy dry-run) for that tree"
    if "file" in spec:
        return "produce the results file before the check (relative paths are from the working directory)"
    return "check sources.mlflow and that the evaluation run was logged with the metric"

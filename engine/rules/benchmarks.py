"""`require: {benchmark: ...}`: the change's evaluation results may not regress beyond a margin.

The candidate (`results`) and the `baseline` each come from one source:

* `evidence`: the metrics of the accepted dry-run evidence of the tree being judged
  (the tree of the update's new commit);
* `refs/...`: the metrics of the accepted dry-run evidence of that ref's current tree;
* `{file: PATH, key?, stderr_key?, n_key?, samples?}`: a result file, read as `format`
  says (lm-eval, pytest-benchmark, json, promptfoo, deepeval, openai-evals); a relative
  PATH resolves against the current working directory (CI jobs run from the checkout).
  For `json`, `key` is the key path of the value (default: the metric name) and
  `stderr_key` / `n_key` point at its uncertainty. `samples` globs lm-eval's per-item
  logs (`out/samples_{task}_*.jsonl`); when both sides have per-item scores of the same
  items they are compared item by item (McNemar, or a paired bootstrap);
* `{files: [PATH or glob, ...]}`: repeated runs (seeds) of one evaluation, one result
  file each; their values combine into a mean with a t-interval;
* `{mlflow: {run_id | experiment_ids + filter/run_name | model, mode}}`: an MLflow
  tracking server (sources.mlflow). `{tree}` and `{commit}` in `filter` and `run_name`
  become the judged update's new tree and commit, so a policy can find the run logged for
  a change; `model: name@alias` or `name/3` reads the run behind a registered model
  version (what is deployed).

A rule judges one `metric`, or a suite: `metrics` (names, or globs over the candidate's
metric names) or an lm-eval `group` (its subtasks, each with `metric`). Each task is
judged with multiple-comparison control (`correction`: holm, default; bh; none; see
engine.suites), or `aggregate: mean` judges the mean over the tasks instead.

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

import math
import os
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule, short

if TYPE_CHECKING:
    from engine.facts.interface import Facts
    from engine.facts.results import Measurement
    from engine.stats import Comparison

Action = Literal["deny", "allow", "warn"]
Source = str | dict[str, Any]  # "evidence", "refs/...", {file: ...} or {mlflow: {...}}


class BenchmarkParams(NamedTuple):
    results: Source
    metric: str | None = None  # required unless metrics: names a suite (the schema says so)
    metrics: tuple[str, ...] | None = None
    group: str | None = None
    aggregate: Literal["each", "mean"] = "each"
    correction: Literal["holm", "bh", "none"] = "holm"
    baseline: Source | None = None
    format: Literal["lm-eval", "pytest-benchmark", "json", "promptfoo", "deepeval", "openai-evals", "mlflow",
                    "evidence"] | None = None
    min: float | None = None
    max: float | None = None
    max_regression: float | str = 0.0  # absolute, or "2%" of the baseline
    confidence: float = 0.95
    higher_is_better: bool | None = None  # None: from the metric's name and format
    paired: bool = True  # compare item by item when both sides have per-item scores
    mcnemar: Literal["mid-p", "exact"] = "mid-p"
    on_inconclusive: Action = "deny"
    on_error: Action = "deny"


_WORST = {"pass": 0, "skip": 0, "warn": 1, "fail": 2, "error": 3}
MAX_SUITE_METRICS = 1000  # tasks in one suite rule (MMLU has 57; the largest lm-eval groups a few hundred)
MAX_RUN_FILES = 200  # result files combined as repeated runs
MAX_NAMED = 20  # regressed tasks named in one message
_GLOB = frozenset("*?[")


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
        reader = _Reader(self.params, facts, update)
        if self.params.metrics or self.params.group:
            return self._judge_suite(reader)
        return self._judge_one(reader, self.params.metric or "")

    def _judge_one(self, reader: _Reader, metric: str) -> Outcome:
        from engine.stats import StatsError, compare

        p = self.params
        on_error = p.on_error
        bounds = {k: v for k, v in (("min", p.min), ("max", p.max)) if v is not None}
        required = _required(p, metric)
        try:
            candidate = reader.read(p.results, metric)
        except SourceError as exc:
            return self.by_action(on_error, f"cannot read the candidate's {metric}: {exc}", required=required,
                                  error=True, fix=_source_fix(p.results))
        baseline: Measurement | None = None
        missing = ""
        if p.baseline is not None:
            try:
                baseline = reader.read(p.baseline, metric)
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
                max_regression=p.max_regression, confidence=p.confidence, min=p.min, max=p.max,
                paired="auto" if p.paired else "off", mcnemar=p.mcnemar)
        except StatsError as exc:
            return self.by_action(on_error, f"{metric} cannot be compared: {exc}", required=required, error=True,
                                  fix="fix the benchmark rule's parameters, or the result files")
        seen = [_seen("candidate", candidate)]
        seen.append(_seen("baseline", baseline) if baseline else f"baseline: missing ({missing})" if missing
                    else "baseline: none configured (bounds only)")
        return self._plotted(self._verdict(comparison.verdict, comparison.explanation, seen, required, missing,
                                           metric), comparison)

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

    def _verdict(self, verdict: str, message: str, seen: list[str], required: str, missing: str,
                 what: str) -> Outcome:
        if verdict == "pass":
            if missing:
                return self.outcome("warn", f"baseline missing ({missing}); judged on min/max only: {message}",
                                    seen=seen, required=required,
                                    fix="record the baseline so regressions can be judged")
            return self.outcome("pass", message, seen=seen, required=required)
        if verdict == "fail":
            return self.outcome("fail", message, seen=seen, required=required,
                                fix=f"improve {what} (or fix the regression) and re-run the evaluation; "
                                    "a policy owner may raise max_regression")
        return self.by_action(self.params.on_inconclusive, f"inconclusive: {message}", seen=seen,
                              required=required,
                              fix="evaluate on more items or repeat the runs to narrow the interval, "
                                  "or record the uncertainty (stderr, samples) the comparison can use")

    # -- suites --------------------------------------------------------------------------

    def _judge_suite(self, reader: _Reader) -> Outcome:
        from engine.stats import StatsError, compare
        from engine.suites import CORRECTION_NAMES, judge_suite

        p = self.params
        what = _suite_name(p)
        required = _required(p, what)
        try:
            names = reader.suite_names()
            candidates = [reader.read(p.results, name) for name in names]
        except SourceError as exc:
            return self.by_action(p.on_error, f"cannot read the candidate's {what}: {exc}", required=required,
                                  error=True, fix=_source_fix(p.results))
        baselines: list[Measurement] | None = None
        missing = ""
        if p.baseline is not None:
            try:
                baselines = [reader.read(p.baseline, name) for name in names]
            except MissingSource as exc:
                missing = str(exc)
            except SourceError as exc:
                return self.by_action(p.on_error, f"cannot read the baseline's {what}: {exc}", required=required,
                                      error=True, fix=_source_fix(p.baseline))
        if baselines is None and p.min is None and p.max is None:
            why = f"the baseline is missing: {missing}" if missing else "the rule gives no baseline, min or max"
            return self.by_action(p.on_error, f"{what} cannot be judged: {why}", required=required, error=True,
                                  fix="produce the baseline, or give min/max; on_error: allow admits a first "
                                      "measurement")
        options: dict[str, Any] = {
            "higher_is_better": p.higher_is_better, "max_regression": p.max_regression,
            "confidence": p.confidence, "min": p.min, "max": p.max,
            "paired": "auto" if p.paired else "off", "mcnemar": p.mcnemar}
        try:
            if p.aggregate == "mean":
                cand = _mean_of(candidates, what, "the candidate")
                base = _mean_of(baselines, what, "the baseline") if baselines else None
                comparison = compare(cand, base, **{**options, "paired": "off"})
                seen = [_seen("candidate", cand)]
                seen.append(_seen("baseline", base) if base else f"baseline: missing ({missing})" if missing
                            else "baseline: none configured (bounds only)")
                return self._verdict(comparison.verdict, comparison.explanation, seen, required, missing, what)
            comparisons: list[Comparison] = [
                compare(c, baselines[i] if baselines else None, **options) for i, c in enumerate(candidates)]
        except StatsError as exc:
            return self.by_action(p.on_error, f"{what} cannot be compared: {exc}", required=required, error=True,
                                  fix="fix the benchmark rule's parameters, or the result files")
        suite = judge_suite(comparisons, p.correction, p.confidence)
        how = f"{CORRECTION_NAMES[p.correction]} at {p.confidence:g} confidence"
        methods = sorted({_method_name(c.method) for c in comparisons})
        seen = [_task_line(t.comparison, t.adjusted_p, t.verdict) for t in
                sorted(suite.tasks, key=lambda t: _WORST[_status(t.verdict)], reverse=True)]
        if suite.verdict == "fail":
            named = "; ".join(_task_line(t.comparison, t.adjusted_p, t.verdict, short_form=True)
                              for t in suite.regressed[:MAX_NAMED])
            more = f"; and {len(suite.regressed) - MAX_NAMED} more" if len(suite.regressed) > MAX_NAMED else ""
            message = (f"{len(suite.regressed)} of {len(comparisons)} tasks of {what} regressed beyond the allowed "
                       f"margin ({how}; {', '.join(methods)}): {named}{more}")
        elif suite.verdict == "inconclusive":
            unsure = ", ".join(t.comparison.metric for t in suite.inconclusive[:MAX_NAMED])
            message = (f"{len(suite.inconclusive)} of {len(comparisons)} tasks of {what} cannot be shown within "
                       f"the margin and none regressed significantly ({how}; {', '.join(methods)}): {unsure}")
        else:
            message = (f"all {len(comparisons)} tasks of {what} are within the margin ({how}; "
                       f"{', '.join(methods)})")
        return self._verdict(suite.verdict, message, seen, required, missing, what)


class _Reader:
    """Reads the sources of one judged update, loading each result file once."""

    def __init__(self, params: BenchmarkParams, facts: Facts, update: RefUpdate) -> None:
        self.params = params
        self.facts = facts
        self.update = update
        self._loaded: dict[tuple[str, str], Any] = {}

    def suite_names(self) -> list[str]:
        """The metrics of a suite: names, or globs / a group expanded over *both* sides.

        Expanding over the candidate alone would let a candidate whose results leave out a
        regressed task escape judging it; a task either side has is judged, and one the
        candidate lacks is then an error.
        """
        from fnmatch import fnmatchcase

        p = self.params
        if p.group and p.format != "lm-eval":
            raise SourceError("group: names an lm-eval group; set format: lm-eval")
        sides = [self._side_names(p.results)]
        if p.baseline is not None:
            try:
                sides.append(self._side_names(p.baseline))
            except MissingSource:
                pass  # judged later: a missing baseline has its own rules
            except SourceError as exc:
                raise SourceError(f"the baseline: {exc}") from None
        available = list(dict.fromkeys(name for side in sides for name in side))
        if p.group:
            names = available
        else:
            names = []
            for entry in p.metrics or ():
                if not _GLOB & set(entry):
                    names.append(entry)
                    continue
                matched = [n for n in available if fnmatchcase(n, entry)]
                if not matched:
                    raise SourceError(f"the glob {entry!r} matches none of the metrics "
                                      f"({', '.join(available[:20]) or 'none'}{' ...' if len(available) > 20 else ''})")
                names += matched
            names = list(dict.fromkeys(names))
        if len(names) > MAX_SUITE_METRICS:
            raise SourceError(f"{len(names)} metrics selected; a suite rule judges at most {MAX_SUITE_METRICS} "
                              "(MAX_SUITE_METRICS): split the suite into several rules")
        return names

    def _side_names(self, spec: Any) -> list[str]:
        """The group's subtasks (with the metric key), or every metric name, of one side."""
        p = self.params
        if not p.group:
            return self.names(spec) if any(_GLOB & set(entry) for entry in p.metrics or ()) else []
        from engine.facts.results import ResultsError, lm_eval_group_tasks

        data, where = self._first_data(spec)
        try:
            return [f"{task}:{p.metric}" for task in lm_eval_group_tasks(data, p.group, source=where)]
        except ResultsError as exc:
            raise SourceError(str(exc)) from None

    def names(self, spec: Any) -> list[str]:
        from engine.facts.results import ResultsError, metric_names

        if isinstance(spec, str):
            metrics, _ = self._evidence_metrics(spec)
            return sorted(metrics)
        if "mlflow" in spec:
            raise SourceError("globs need the list of metrics a result file or evidence gives; for MLflow, "
                              "name each metric in metrics:")
        data, _ = self._first_data(spec)
        try:
            return metric_names(self._format(spec), data)
        except ResultsError as exc:
            raise SourceError(str(exc)) from None

    def read(self, spec: Any, metric: str) -> Measurement:
        from engine.facts.results import ResultsError

        try:
            if isinstance(spec, str):
                metrics, what = self._evidence_metrics(spec)
                return _evidence_metric(metrics, metric, what)
            if "file" in spec:
                return self._from_file(spec, metric)
            if "files" in spec:
                return self._from_runs(spec, metric)
            return self._from_mlflow(spec["mlflow"], metric)
        except ResultsError as exc:
            raise SourceError(str(exc)) from None

    # -- result files --------------------------------------------------------------------

    def _format(self, spec: dict[str, Any]) -> str:
        from engine.facts.results import FILE_FORMATS

        fmt = self.params.format or ("json" if "key" in spec else None)
        what = spec.get("file") or spec.get("files")
        if fmt is None:
            raise SourceError(f"say which format {what} is in: format: {', '.join(FILE_FORMATS)} "
                              "(or give key: for a JSON key path)")
        if fmt not in FILE_FORMATS:
            raise SourceError(f"format {fmt!r} does not apply to a results file; use {', '.join(FILE_FORMATS)}")
        return fmt

    def _load(self, fmt: str, path: str) -> Any:
        from engine.facts.results import load_results

        key = (fmt, path)
        if key not in self._loaded:
            self._loaded[key] = load_results(fmt, path)
        return self._loaded[key]

    def _paths(self, spec: dict[str, Any]) -> list[str]:
        if "file" in spec:
            try:
                return [self.facts.working_file(spec["file"])]
            except FileNotFoundError as exc:
                raise MissingSource(f"the results file {exc.filename} does not exist") from None
        paths: list[str] = []
        for pattern in spec["files"]:
            found = self.facts.working_files(pattern) if _GLOB & set(pattern) else [self._one(pattern)]
            if not found:
                raise MissingSource(f"no results file matches {pattern}")
            paths += found
        paths = list(dict.fromkeys(paths))
        if len(paths) > MAX_RUN_FILES:
            raise SourceError(f"{len(paths)} result files match; at most {MAX_RUN_FILES} runs are combined "
                              "(MAX_RUN_FILES)")
        return paths

    def _one(self, path: str) -> str:
        try:
            return self.facts.working_file(path)
        except FileNotFoundError as exc:
            raise MissingSource(f"the results file {exc.filename} does not exist") from None

    def _first_data(self, spec: Any) -> tuple[Any, str]:
        if isinstance(spec, str) or "mlflow" in spec:
            raise SourceError("group: and metric globs need a result file source")
        fmt = self._format(spec)
        path = self._paths(spec)[0]
        return self._load(fmt, path), f"{fmt} {path}"

    def _from_file(self, spec: dict[str, Any], metric: str) -> Measurement:
        fmt = self._format(spec)
        path = self._paths(spec)[0]
        m = self._parse(fmt, path, spec, metric)
        if spec.get("samples"):
            m = self._with_samples(m, spec["samples"], metric, fmt, path)
        return m

    def _parse(self, fmt: str, path: str, spec: dict[str, Any], metric: str) -> Measurement:
        from engine.facts.results import parse_json_metric, parser

        data = self._load(fmt, path)
        if fmt == "json":
            return parse_json_metric(data, spec.get("key") or metric, stderr_path=spec.get("stderr_key"),
                                     n_path=spec.get("n_key"), metric=metric, source=f"JSON {path}")
        return parser(fmt)(data, metric, source=f"{fmt} {path}")

    def _with_samples(self, m: Measurement, pattern: str, metric: str, fmt: str, results: str) -> Measurement:
        from engine.facts.eval_tools import read_lm_eval_samples, with_samples

        if fmt != "lm-eval":
            raise SourceError("samples: reads lm-eval --log_samples files; the other formats carry their "
                              "per-item scores in the result file itself")
        task, _, key = metric.rpartition(":")
        found = self.facts.working_files(pattern.replace("{task}", task))
        if len(found) > 1:
            found = self._own_samples(found, pattern, task, results)
        if len(found) != 1:
            raise SourceError(f"samples: {pattern!r} for task {task} matches {len(found)} files "
                              f"({', '.join(found[:3]) or 'none'}); it must match exactly one")
        ids, scores = read_lm_eval_samples(found[0], key)
        return with_samples(m, ids, scores, f"lm-eval samples {found[0]}", results_path=results)

    def _own_samples(self, found: list[str], pattern: str, task: str, results: str) -> list[str]:
        """Of several logs a pattern matches, the one of this task and of this run.

        lm-eval names its logs samples_<task>_<date id>.jsonl, so `samples_{task}_*.jsonl`
        for tiny_add also matches tiny_add_carry's log (as lambada_openai matches
        lambada_openai_cloze's): a file that the pattern of a longer task of the same
        results file matches is that task's. And each run writes its files beside the
        earlier runs' in the model's folder: when the results file carries lm-eval's date
        id, the logs with the same id are this run's.
        """
        from engine.facts.eval_tools import lm_eval_run_id
        from engine.facts.results import lm_eval_task_names

        longer = [t for t in lm_eval_task_names(self._load("lm-eval", results))
                  if t != task and t.startswith(task)]
        theirs = {f for t in longer for f in self.facts.working_files(pattern.replace("{task}", t))}
        found = [f for f in found if f not in theirs]
        run = lm_eval_run_id(results)
        if len(found) > 1 and run is not None:
            found = [f for f in found if lm_eval_run_id(f) == run]
        return found

    def _from_runs(self, spec: dict[str, Any], metric: str) -> Measurement:
        """Several result files of repeated runs: each run's value is one sample."""
        from engine.facts.results import Measurement as M

        fmt = self._format(spec)
        runs = [self._parse(fmt, path, spec, metric) for path in self._paths(spec)]
        values = tuple(r.value for r in runs)
        hints = {r.higher_is_better for r in runs}
        return M(metric=metric, value=math.fsum(values) / len(values), n=len(values),
                 samples=values if len(values) >= 2 else (), samples_kind="runs",
                 higher_is_better=hints.pop() if len(hints) == 1 else None,
                 source=f"{len(values)} runs ({fmt}: {', '.join(os.path.basename(r) for r in self._paths(spec))})")

    # -- evidence and MLflow -------------------------------------------------------------

    def _evidence_metrics(self, spec: str) -> tuple[dict[str, Any], str]:
        if spec == "evidence":
            return _evidence_of(self.facts, self.facts.tree(self.update.new), f"the evidence of {self.update.name}")
        commit = self.facts.ref(spec)  # exact: never a guessed short name
        if commit is None:
            raise MissingSource(f"the ref {spec} does not exist")
        return _evidence_of(self.facts, self.facts.tree(commit), f"the evidence of {spec}")

    def _from_mlflow(self, spec: dict[str, Any], metric: str) -> Measurement:
        from engine.facts.mlflow import MlflowError, read_mlflow_metric, read_model_metric

        tree = self.facts.tree(self.update.new)
        commit = self.update.new

        def fill(text: str | None) -> str | None:
            return None if text is None else text.replace("{tree}", tree).replace("{commit}", commit)

        try:
            with self.facts.mlflow() as client:
                if spec.get("model"):
                    return read_model_metric(client, spec["model"], metric, mode=spec.get("mode", "latest"))
                return read_mlflow_metric(
                    client, metric, run_id=spec.get("run_id"), experiment_ids=spec.get("experiment_ids", ()),
                    filter_string=fill(spec.get("filter")) or "", run_name=fill(spec.get("run_name")),
                    mode=spec.get("mode", "latest"))
        except MlflowError as exc:
            raise SourceError(str(exc)) from None


def _evidence_of(facts: Facts, tree: str, what: str) -> tuple[dict[str, Any], str]:
    """The metrics of the accepted dry-run evidence of `tree`, the newest record's first."""
    from engine.facts.evidence import find_evidence
    from engine.facts.interface import TrustError

    try:
        accepted, rejected = find_evidence(facts, tree)
    except TrustError as exc:
        raise SourceError(f"cannot check the signatures of {what}: {exc}") from None
    if not accepted:
        reasons = "; ".join(f"{r.source}: {r.reason} ({r.detail})" for r in rejected[:3])
        detail = f"; rejected: {reasons}" if rejected else ""
        raise MissingSource(f"no accepted dry-run evidence for tree {short(tree)} ({what}){detail}")
    newest_first = sorted(accepted, key=lambda a: str(a.predicate.get("finishedOn", "")), reverse=True)
    merged: dict[str, Any] = {}
    for record in reversed(newest_first):  # newer records override older ones
        metrics = record.predicate.get("metrics")
        if isinstance(metrics, dict):
            merged.update({k: (v, f"{what}, {record.source}") for k, v in metrics.items()})
    return merged, f"{what} (tree {short(tree)})"


def _evidence_metric(metrics: dict[str, Any], metric: str, what: str) -> Measurement:
    from engine.facts.results import measurement_from_mapping

    if metric not in metrics:
        raise SourceError(f"{what} records no metric {metric!r}; it records "
                          f"{', '.join(sorted(metrics)) or 'no metrics'}")
    value, source = metrics[metric]
    return measurement_from_mapping({metric: value}, metric, source=source)


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


def _required(p: BenchmarkParams, what: str) -> str:
    parts = []
    if p.baseline is not None:
        each = "each task of " if (p.metrics or p.group) and p.aggregate == "each" else ""
        corrected = f", {p.correction} correction" if each else ""
        parts.append(f"no regression of {each}{what} beyond {p.max_regression or 0} against the baseline "
                     f"at {p.confidence:g} confidence{corrected}")
    if p.min is not None:
        parts.append(f"{what} at least {p.min:g}")
    if p.max is not None:
        parts.append(f"{what} at most {p.max:g}")
    return "; ".join(parts) or f"a baseline, min or max for {what}"


def _suite_name(p: BenchmarkParams) -> str:
    tasks = f"group {p.group} ({p.metric})" if p.group else ", ".join(p.metrics or ())
    return f"the mean over {tasks}" if p.aggregate == "mean" else tasks


def _mean_of(ms: list[Measurement] | None, name: str, side: str) -> Measurement:
    """The unweighted mean over tasks; its stderr from the tasks' own (independent tasks)."""
    from engine.facts.results import Measurement as M
    from engine.stats import standard_error

    assert ms
    errors = [standard_error(m) for m in ms]
    known = [e for e in errors if e is not None]
    hints = {m.higher_is_better for m in ms}
    return M(metric=name, value=math.fsum(m.value for m in ms) / len(ms),
             stderr=math.sqrt(math.fsum(e * e for e in known)) / len(ms) if len(known) == len(ms) else None,
             higher_is_better=hints.pop() if len(hints) == 1 else None,
             source=f"the mean of {len(ms)} tasks of {side}")


def _task_line(c: Comparison, adjusted_p: float | None, verdict: str, *, short_form: bool = False) -> str:
    if c.regression is None or c.margin is None:
        return f"{c.metric}: [{verdict}] {c.explanation}"
    ci = f" {c.regression_ci}" if c.regression_ci is not None else " (point)"
    p = f", adjusted p {adjusted_p:.3g}" if adjusted_p is not None else ""
    if short_form:
        return f"{c.metric} regression {c.regression:.4g}{ci}{p}"
    assert c.baseline is not None
    return (f"{c.metric}: [{verdict}] {c.candidate.value:.4g} vs {c.baseline.value:.4g}, regression "
            f"{c.regression:.4g}{ci} (margin {c.margin.absolute:.4g}, {_method_name(c.method)}){p}")


def _method_name(method: str) -> str:
    return {"newcombe": "Newcombe interval", "welch": "Welch t", "normal": "normal interval",
            "point": "point comparison", "mcnemar-mid-p": "paired McNemar mid-p",
            "mcnemar-exact": "paired McNemar exact", "paired-bootstrap": "paired bootstrap",
            "bootstrap": "bootstrap", "none": "bounds only"}.get(method, method)


def _status(verdict: str) -> str:
    return "error" if verdict == "fail" else "warn" if verdict == "inconclusive" else "pass"


def _source_fix(spec: Any) -> str:
    if spec == "evidence" or isinstance(spec, str):
        return "record signed dry-run evidence with the metric (policy dry-run) for that tree"
    if "file" in spec or "files" in spec:
        return "produce the results file before the check (relative paths are from the working directory)"
    return "check sources.mlflow and that the evaluation run was logged with the metric"

"""Result files of the evaluation tools teams run in CI, read into `Measurement`s.

Each reader maps a tool's own output to metric names (docs/benchmarks.md has the table),
keeps per-item scores with the items' identities where the tool records them, so a
candidate and a baseline run on the same items can be compared item by item, and lists
the metric names it offers (for `metrics:` globs in a suite rule):

- lm-evaluation-harness `--log_samples` files (`samples_<task>_<time>.jsonl`): the
  per-item scores behind a `results_*.json` value;
- promptfoo `promptfoo eval -o results.json`: pass rate, score, latency and named scores
  of each test case;
- DeepEval test-run files (`deepeval test run` with DEEPEVAL_RESULTS_FOLDER, or
  `.deepeval/.latest_test_run.json`): each metric's scores, pass rates;
- OpenAI-evals-style JSONL records (`oaieval --record_path`): the final report and the
  per-sample `match` / `metrics` events.

Standard library only: the git hook imports the engine package.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.facts.results import Measurement, ResultsError

# ---------------------------------------------------------------------------------------
# lm-evaluation-harness sample logs
# ---------------------------------------------------------------------------------------


def read_lm_eval_samples(path: str | os.PathLike[str], key: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Per-item scores of `key` (`acc,none`: metric `acc` under filter `none`) from a
    `samples_<task>_*.jsonl` file, with item ids `doc_id:doc_hash`.

    The document hash goes into the id so that two runs pair an item only when it is the
    same document, not merely the same position in a dataset that changed.
    """
    name, _, flt = key.partition(",")
    flt = flt or "none"
    where = f"lm-eval samples {os.fspath(path)}"
    ids: list[str] = []
    scores: list[float] = []
    for lineno, record in _jsonl(path):
        if not isinstance(record, Mapping):
            raise ResultsError(f"{where}:{lineno}: a sample is not a JSON object")
        if record.get("filter", "none") != flt or name not in record:
            continue
        doc_id = record.get("doc_id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, int | str):
            raise ResultsError(f"{where}:{lineno}: sample without a doc_id")
        ids.append(f"{doc_id}:{record['doc_hash']}" if isinstance(record.get("doc_hash"), str) else str(doc_id))
        scores.append(_score(record[name], f"{where}:{lineno}: {name}"))
    if not scores:
        raise ResultsError(f"{where}: no sample records metric {name!r} under filter {flt!r}")
    if len(set(ids)) != len(ids):
        raise ResultsError(f"{where}: a document appears twice under filter {flt!r}; cannot pair items")
    return tuple(ids), tuple(scores)


# lm-eval stamps a run's results and sample logs with the same date id:
# results_<id>.json (or <name>_<id>.json) and samples_<task>_<id>.jsonl
_LM_EVAL_RUN_ID = re.compile(r"_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d+)?)\.jsonl?$")


def lm_eval_run_id(path: str) -> str | None:
    """The date id lm-eval puts in the names of one run's files, if the name has one."""
    found = _LM_EVAL_RUN_ID.search(os.path.basename(path))
    return found.group(1) if found else None


def with_samples(m: Measurement, ids: Sequence[str], scores: Sequence[float], where: str,
                 *, results_path: str | None = None) -> Measurement:
    """`m` (read from a results file) with its per-item scores, after checking they agree.

    A samples file from another run (or another --limit) would let a paired comparison
    judge items other than those behind the reported value. Two runs of different models
    can average to the same value, so when both files carry lm-eval's date id in their
    names, the ids must be the same run's; and in any case the mean and count must match.
    """
    run = lm_eval_run_id(results_path) if results_path is not None else None
    log = lm_eval_run_id(where)
    if run is not None and log is not None and run != log:
        raise ResultsError(
            f"{where} does not belong to {m.source}: lm-eval wrote it in the run of {log}, "
            f"the results file in the run of {run}"
        )
    mean = math.fsum(scores) / len(scores)
    if abs(mean - m.value) > 1e-6 or (m.n is not None and m.n != len(scores)):
        raise ResultsError(
            f"{where} does not belong to {m.source}: its {len(scores)} items average {mean:.6g}, "
            f"the results file reports {m.value:.6g}" + (f" over {m.n} items" if m.n is not None else "")
        )
    return Measurement(
        metric=m.metric, value=m.value, stderr=m.stderr, n=len(scores), samples=tuple(scores),
        samples_kind="scores", proportion=m.proportion, higher_is_better=m.higher_is_better,
        source=f"{m.source} with {where}", item_ids=tuple(ids),
    )


# ---------------------------------------------------------------------------------------
# promptfoo
# ---------------------------------------------------------------------------------------

PROMPTFOO_METRICS = ("pass_rate", "score", "latency_ms")


def parse_promptfoo(data: Any, metric: str, *, source: str = "") -> Measurement:
    """`pass_rate`, `score`, `latency_ms` or a named score, optionally `@<provider or prompt>`.

    Every row of `results.results` is one test case run against one prompt and provider.
    A file with several prompts or providers needs the `@` selector, since their rows
    answer different questions. Errors (a provider that failed) count as failures.
    """
    where = source or "promptfoo results"
    rows = _promptfoo_rows(data, where)
    name, _, selector = metric.partition("@")
    chosen = [r for r in rows if not selector or selector in _promptfoo_labels(r)]
    if not chosen:
        raise ResultsError(f"{where}: no result row matches {selector!r}; it has {', '.join(_combos(rows))}")
    combos = _combos(chosen)
    if len(combos) > 1:
        raise ResultsError(
            f"{where}: {len(combos)} prompt/provider combinations ({', '.join(combos)}); "
            f"name one as {name}@<provider id or prompt label>")
    ids, values = [], []
    for row in chosen:
        test = row.get("testCase")
        variables = test.get("vars", {}) if isinstance(test, Mapping) else {}
        ids.append(f"test {row.get('testIdx')}: {json.dumps(variables, sort_keys=True, default=str)}")
        if name == "pass_rate":
            values.append(1.0 if row.get("success") is True else 0.0)
        elif name == "score":
            values.append(_score(row.get("score"), f"{where}: score of test {row.get('testIdx')}"))
        elif name == "latency_ms":
            values.append(_score(row.get("latencyMs"), f"{where}: latencyMs of test {row.get('testIdx')}"))
        else:
            named = row.get("namedScores")
            if not isinstance(named, Mapping) or name not in named:
                raise ResultsError(f"{where}: test {row.get('testIdx')} has no named score {name!r}; metrics are "
                                   f"{', '.join(promptfoo_names(data))}")
            values.append(_score(named[name], f"{where}: {name} of test {row.get('testIdx')}"))
    if len(set(ids)) != len(ids):
        ids = []  # repeated test cases (--repeat): not pairable by test
    return Measurement(
        metric=metric, value=math.fsum(values) / len(values), n=len(values), samples=tuple(values),
        samples_kind="scores", proportion=name == "pass_rate",
        higher_is_better=False if name == "latency_ms" else True, source=where,
        item_ids=tuple(ids) if len(values) >= 1 and ids else (),
    )


def promptfoo_names(data: Any) -> list[str]:
    rows = _promptfoo_rows(data, "promptfoo results")
    named = sorted({k for r in rows if isinstance(r.get("namedScores"), Mapping) for k in r["namedScores"]})
    return [*PROMPTFOO_METRICS, *(n for n in named if n not in PROMPTFOO_METRICS)]


def _promptfoo_rows(data: Any, where: str) -> list[Mapping[str, Any]]:
    inner = data.get("results") if isinstance(data, Mapping) else None
    rows = inner.get("results") if isinstance(inner, Mapping) else None
    if not isinstance(rows, list):
        raise ResultsError(f"{where}: no results.results list; is this `promptfoo eval -o results.json` output?")
    rows = [r for r in rows if isinstance(r, Mapping)]
    if not rows:
        raise ResultsError(f"{where}: the evaluation has no result rows")
    return rows


def _promptfoo_labels(row: Mapping[str, Any]) -> set[str]:
    labels = set()
    provider = row.get("provider")
    if isinstance(provider, Mapping):
        labels |= {str(provider[k]) for k in ("id", "label") if provider.get(k)}
    elif isinstance(provider, str):
        labels.add(provider)
    prompt = row.get("prompt")
    if isinstance(prompt, Mapping) and prompt.get("label"):
        labels.add(str(prompt["label"]))
    return labels


def _combos(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for row in rows:
        provider = row.get("provider")
        pid = provider.get("id") if isinstance(provider, Mapping) else provider
        prompt = row.get("prompt")
        label = prompt.get("label") if isinstance(prompt, Mapping) else row.get("promptIdx")
        out.append(f"{pid} / {label!s}")
    return sorted(set(out))


# ---------------------------------------------------------------------------------------
# DeepEval
# ---------------------------------------------------------------------------------------


def parse_deepeval(data: Any, metric: str, *, source: str = "") -> Measurement:
    """`<metric name>` (its scores), `<metric name>:pass_rate`, or `pass_rate` (test cases).

    Scores come from `metricsScores`, DeepEval's own per-metric aggregate. They are paired
    with test-case names only when `testCases` hold exactly the same scores for the
    metric; otherwise they are compared as independent samples.
    """
    where = source or "DeepEval test run"
    if not isinstance(data, Mapping) or "testCases" not in data:
        raise ResultsError(f"{where}: no testCases; is this a DeepEval test-run file?")
    if metric == "pass_rate":
        passed, failed = _count(data.get("testPassed")), _count(data.get("testFailed"))
        if passed is None or failed is None or passed + failed == 0:
            raise ResultsError(f"{where}: testPassed/testFailed are missing or both 0")
        return Measurement(metric=metric, value=passed / (passed + failed), n=passed + failed, proportion=True,
                           higher_is_better=True, source=where)
    name, _, part = metric.rpartition(":") if metric.endswith(":pass_rate") else (metric, "", "")
    entry = _deepeval_entry(data, name, where)
    if part == "pass_rate":
        counts = [_count(entry.get(k)) for k in ("passes", "fails", "errors")]
        if any(c is None for c in counts) or sum(c or 0 for c in counts) == 0:
            raise ResultsError(f"{where}: {name!r} has no passes/fails/errors counts")
        passes, total = counts[0] or 0, sum(c or 0 for c in counts)
        return Measurement(metric=metric, value=passes / total, n=total, proportion=True, higher_is_better=True,
                           source=where)
    raw = entry.get("scores")
    if not isinstance(raw, list) or not raw:
        raise ResultsError(f"{where}: {name!r} has no scores")
    scores = tuple(_score(s, f"{where}: a score of {name}") for s in raw)
    ids = _deepeval_ids(data, name, scores)
    return Measurement(metric=metric, value=math.fsum(scores) / len(scores), n=len(scores), samples=scores,
                       samples_kind="scores", higher_is_better=True, source=where,
                       item_ids=ids if ids and len(set(ids)) == len(ids) else ())


def deepeval_names(data: Any) -> list[str]:
    entries = data.get("metricsScores") if isinstance(data, Mapping) else None
    names = [str(e["metric"]) for e in entries or [] if isinstance(e, Mapping) and "metric" in e]
    return ["pass_rate", *names, *(f"{n}:pass_rate" for n in names)]


def _deepeval_entry(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    for entry in data.get("metricsScores") or []:
        if isinstance(entry, Mapping) and entry.get("metric") == name:
            return entry
    raise ResultsError(f"{where}: no metric {name!r}; it has {', '.join(deepeval_names(data)) or 'none'}")


def _deepeval_ids(data: Mapping[str, Any], name: str, scores: tuple[float, ...]) -> tuple[str, ...]:
    ids, found = [], []
    for case in data.get("testCases") or []:
        if not isinstance(case, Mapping):
            continue
        for m in case.get("metricsData") or []:
            if isinstance(m, Mapping) and m.get("name") == name and isinstance(m.get("score"), int | float):
                ids.append(str(case.get("name", case.get("order"))))
                found.append(float(m["score"]))
    return tuple(ids) if found == list(scores) else ()


# ---------------------------------------------------------------------------------------
# OpenAI evals (JSONL records)
# ---------------------------------------------------------------------------------------


def load_openai_evals(path: str | os.PathLike[str]) -> list[Mapping[str, Any]]:
    """The records of an `oaieval --record_path` JSONL file."""
    out = []
    for lineno, record in _jsonl(path):
        if not isinstance(record, Mapping):
            raise ResultsError(f"openai-evals {os.fspath(path)}:{lineno}: a record is not a JSON object")
        out.append(record)
    return out


def parse_openai_evals(data: Any, metric: str, *, source: str = "") -> Measurement:
    """`accuracy` from the per-sample `match` events, a key of per-sample `metrics` events,
    or a key of the `final_report` (a point value).

    Per-sample events are preferred: they carry the sample ids that pair candidate and
    baseline, and their spread. A final report that disagrees with its own events is an
    error, since one of them is not this run's.
    """
    where = source or "openai-evals records"
    records = data if isinstance(data, list) else []
    report = next((r["final_report"] for r in records if isinstance(r.get("final_report"), Mapping)), None)
    per_sample: dict[str, float] = {}
    for r in records:
        kind, sample, payload = r.get("type"), r.get("sample_id"), r.get("data")
        if not isinstance(sample, str) or not isinstance(payload, Mapping):
            continue
        if metric == "accuracy" and kind == "match" and isinstance(payload.get("correct"), bool):
            value = 1.0 if payload["correct"] else 0.0
        elif kind == "metrics" and metric in payload:
            value = _score(payload[metric], f"{where}: {metric} of {sample}")
        else:
            continue
        if sample in per_sample:
            raise ResultsError(f"{where}: sample {sample} is recorded twice for {metric!r}")
        per_sample[sample] = value
    if per_sample:
        ids = tuple(sorted(per_sample))
        values = tuple(per_sample[i] for i in ids)
        mean = math.fsum(values) / len(values)
        reported = report.get(metric) if report else None
        if isinstance(reported, int | float) and not isinstance(reported, bool) and abs(reported - mean) > 1e-6:
            raise ResultsError(f"{where}: final_report {metric} {reported} disagrees with its {len(values)} "
                               f"sample events (mean {mean:.6g})")
        return Measurement(metric=metric, value=mean, n=len(values), samples=values, samples_kind="scores",
                           proportion=metric == "accuracy", higher_is_better=True, source=where, item_ids=ids)
    if report is None:
        raise ResultsError(f"{where}: no final_report and no sample events for {metric!r}; is this an "
                           "oaieval --record_path file?")
    if metric not in report:
        raise ResultsError(f"{where}: no metric {metric!r}; it has {', '.join(openai_evals_names(data)) or 'none'}")
    return Measurement(metric=metric, value=_score(report[metric], f"{where}: {metric}"), source=where)


def openai_evals_names(data: Any) -> list[str]:
    records = data if isinstance(data, list) else []
    names: dict[str, None] = {}
    for r in records:
        if isinstance(r.get("final_report"), Mapping):
            names.update(dict.fromkeys(map(str, r["final_report"])))
        if r.get("type") == "match":
            names["accuracy"] = None
        if r.get("type") == "metrics" and isinstance(r.get("data"), Mapping):
            names.update(dict.fromkeys(map(str, r["data"])))
    return list(names)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------

MAX_JSONL_RECORDS = 2_000_000  # a cap on lines read, so a runaway file cannot hang a check


def _jsonl(path: str | os.PathLike[str]) -> list[tuple[int, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if lineno > MAX_JSONL_RECORDS:
                    raise ResultsError(f"{os.fspath(path)} has more than {MAX_JSONL_RECORDS} lines (the cap)")
                if line.strip():
                    try:
                        out.append((lineno, json.loads(line)))
                    except json.JSONDecodeError as err:
                        raise ResultsError(f"{os.fspath(path)}:{lineno}: not JSON: {err.msg}") from None
    except FileNotFoundError:
        raise ResultsError(f"results file {os.fspath(path)} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"cannot read results file {os.fspath(path)}: {err}") from None
    return out


def _score(raw: Any, what: str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ResultsError(f"{what} is {raw!r}, not a finite number")
    return float(raw)


def _count(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else None

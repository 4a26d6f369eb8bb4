"""Benchmark and evaluation results, read into one typed `Measurement`.

Every reader keeps whatever uncertainty its source records (a standard error, the number
of samples, per-sample scores, repeated runs), because an LLM evaluation is noisy and a
comparison without that noise turns chance into verdicts. Readers never compare: that is
`engine.stats`. Standard library only: the git hook imports this module.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

SamplesKind = Literal["scores", "runs"]
"""`scores`: one value per evaluated item; `runs`: one value per repeated run."""

# lm-eval metrics whose per-item score is 0 or 1, so the reported value is a proportion
# of `n` items and binomial (Wilson/Newcombe) intervals are right for it.
PROPORTION_METRICS = frozenset({"acc", "acc_norm", "exact_match", "em", "mc1"})

# pytest-benchmark stats measured in seconds (lower is better) and the one that is a rate.
_TIME_STATS = frozenset({"min", "max", "mean", "stddev", "median", "iqr", "total"})
_RATE_STATS = frozenset({"ops"})


class ResultsError(Exception):
    """A result file is missing, malformed, or lacks the metric asked for."""


@dataclass(frozen=True)
class Measurement:
    """One metric's value with the uncertainty its source recorded.

    `stderr` is the standard error of `value`; `n` the number of items or runs behind it;
    `samples` the individual values (per-item scores or repeated runs) when the source
    kept them. `proportion` says `value` is a share of `n` items scored 0 or 1.
    `higher_is_better` is the source's own hint, if it gives one. `item_ids`, when the
    source names its items (lm-eval sample logs, promptfoo test cases), let a candidate
    and a baseline be compared item by item (engine.stats pairs them).
    """

    metric: str
    value: float
    stderr: float | None = None
    n: int | None = None
    samples: tuple[float, ...] = ()
    samples_kind: SamplesKind = "runs"
    proportion: bool = False
    higher_is_better: bool | None = None
    source: str = ""
    item_ids: tuple[str, ...] = ()  # per-item identities of `samples` (paired comparisons)

    def __post_init__(self) -> None:
        if not _is_finite_number(self.value):
            raise ResultsError(
                f"{self.metric}: value {self.value!r} is not a finite number"
            )
        if self.stderr is not None and not (
            _is_finite_number(self.stderr) and self.stderr >= 0
        ):
            raise ResultsError(
                f"{self.metric}: stderr {self.stderr!r} is not a number >= 0"
            )
        if self.n is not None and (isinstance(self.n, bool) or self.n < 1):
            raise ResultsError(f"{self.metric}: n {self.n!r} is not a count >= 1")
        if any(not _is_finite_number(s) for s in self.samples):
            raise ResultsError(
                f"{self.metric}: samples contain a value that is not a number"
            )
        if self.item_ids and (
            len(self.item_ids) != len(self.samples) or len(set(self.item_ids)) != len(self.item_ids)
        ):
            raise ResultsError(
                f"{self.metric}: item ids must name each per-item score once "
                f"({len(self.item_ids)} ids for {len(self.samples)} scores)"
            )

    @property
    def has_uncertainty(self) -> bool:
        """Whether anything beyond the point value is known."""
        return (
            self.stderr is not None
            or len(self.samples) >= 2
            or (self.proportion and self.n is not None)
        )

    def describe(self) -> str:
        """Say in a few words what this measurement is, for messages."""
        parts = [f"{self.value:.6g}"]
        if self.stderr is not None:
            parts.append(f"± {self.stderr:.3g} (stderr)")
        if self.samples:
            what = "per-item scores" if self.samples_kind == "scores" else "runs"
            parts.append(f"over {len(self.samples)} {what}")
        elif self.n is not None:
            parts.append(f"n={self.n}")
        return " ".join(parts)


# ---------------------------------------------------------------------------------------
# lm-evaluation-harness
# ---------------------------------------------------------------------------------------


def parse_lm_eval(
    data: Mapping[str, Any], metric: str, *, source: str = ""
) -> Measurement:
    """Read `task:metric,filter` (0.4 form) or `task:metric` (0.3 form) from lm-eval output.

    The 0.4 form keys metrics as `acc,none` with `acc_stderr,none` beside them and
    counts items in `n-samples`; the 0.3 form uses bare `acc` / `acc_stderr`. An stderr
    of "N/A" (lm-eval writes it when it could not compute one) is read as unknown.
    """
    task, sep, key = metric.rpartition(":")
    if not sep or not task or not key:
        raise ResultsError(
            f"lm-eval metric {metric!r} must look like 'task:metric,filter' "
            "(e.g. 'hellaswag:acc,none') or 'task:metric' for lm-eval 0.3 files"
        )
    table = _task_table(data, task, source)
    if key not in table:
        available = sorted(k for k in table if k != "alias" and "_stderr" not in k)
        raise ResultsError(
            f"{source or 'lm-eval results'}: task {task!r} has no metric {key!r}; "
            f"it has {', '.join(available) or 'none'}"
        )
    value = _number(table[key], f"{metric} in {source or 'lm-eval results'}")
    name, comma, flt = key.partition(",")
    stderr_raw = table.get(f"{name}_stderr{comma}{flt}")
    stderr = _optional_stderr(stderr_raw, metric, source)
    n = _lm_eval_n(data, task)
    hints = data.get("higher_is_better")
    task_hints = hints.get(task) if isinstance(hints, Mapping) else None
    hib = task_hints.get(name) if isinstance(task_hints, Mapping) else None
    return Measurement(
        metric=metric,
        value=value,
        stderr=stderr,
        n=n,
        proportion=name in PROPORTION_METRICS and 0.0 <= value <= 1.0,
        higher_is_better=hib if isinstance(hib, bool) else None,
        source=source or "lm-eval results",
    )


def read_lm_eval(path: str | os.PathLike[str], metric: str) -> Measurement:
    """Read one metric from an lm-eval `results_*.json` file."""
    return parse_lm_eval(_load_json(path), metric, source=f"lm-eval {os.fspath(path)}")


def _task_table(data: Mapping[str, Any], task: str, source: str) -> Mapping[str, Any]:
    # Aggregated groups sit in `results` since lm-eval 0.4.3 and in `groups` before it.
    for section in ("results", "groups"):
        tables = data.get(section)
        if isinstance(tables, Mapping) and isinstance(tables.get(task), Mapping):
            return tables[task]  # type: ignore[no-any-return]
    tables = data.get("results")
    if not isinstance(tables, Mapping):
        raise ResultsError(
            f"{source or 'lm-eval results'}: no 'results' object; is this an lm-eval file?"
        )
    raise ResultsError(
        f"{source or 'lm-eval results'}: no task {task!r}; it has "
        f"{', '.join(sorted(tables)) or 'none'}"
    )


def _lm_eval_n(data: Mapping[str, Any], task: str) -> int | None:
    counts = data.get("n-samples", {})
    entry = counts.get(task) if isinstance(counts, Mapping) else None
    if not isinstance(entry, Mapping):
        return None
    # `effective` is what was evaluated (after --limit); `original` is the dataset size.
    for key in ("effective", "original"):
        n = entry.get(key)
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return n
    return None


def _optional_stderr(raw: Any, metric: str, source: str) -> float | None:
    if raw is None or raw == "N/A":
        return None
    value = _number(raw, f"stderr of {metric} in {source or 'results'}")
    # lm-eval writes a stderr of 0 when bootstrapping had a single item: it says nothing.
    return value if value > 0 else None


# ---------------------------------------------------------------------------------------
# pytest-benchmark
# ---------------------------------------------------------------------------------------


def parse_pytest_benchmark(
    data: Mapping[str, Any], metric: str, *, source: str = ""
) -> Measurement:
    """Read `<benchmark name>:<stat>` from pytest-benchmark's `--benchmark-json` output.

    Only `mean` carries uncertainty: its rounds are repeated runs (stddev / sqrt(rounds)
    as stderr, and the raw timings when saved with `--benchmark-save-data`). Other stats
    (min, median, ops ...) are order statistics or transforms whose spread the file does
    not record, so they are point values.
    """
    where = source or "pytest-benchmark results"
    name, sep, stat = metric.rpartition(":")
    if not sep or not name or not stat:
        raise ResultsError(
            f"pytest-benchmark metric {metric!r} must look like '<benchmark name>:<stat>' "
            "(e.g. 'test_tokenize:mean')"
        )
    benchmarks = data.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise ResultsError(
            f"{where}: no 'benchmarks' list; is this --benchmark-json output?"
        )
    found = [
        b for b in benchmarks if isinstance(b, Mapping) and b.get("fullname") == name
    ]
    if not found:
        found = [
            b for b in benchmarks if isinstance(b, Mapping) and b.get("name") == name
        ]
    if not found:
        names = sorted(str(b.get("name")) for b in benchmarks if isinstance(b, Mapping))
        raise ResultsError(
            f"{where}: no benchmark {name!r}; it has {', '.join(names) or 'none'}"
        )
    if len(found) > 1:
        full = ", ".join(str(b.get("fullname")) for b in found)
        raise ResultsError(
            f"{where}: {name!r} names several benchmarks ({full}); use the fullname"
        )
    stats = found[0].get("stats")
    if not isinstance(stats, Mapping) or stat not in stats:
        have = ", ".join(sorted(stats)) if isinstance(stats, Mapping) else "no stats"
        raise ResultsError(
            f"{where}: benchmark {name!r} has no stat {stat!r}; it has {have}"
        )
    value = _number(stats[stat], f"{metric} in {where}")
    hib = True if stat in _RATE_STATS else False if stat in _TIME_STATS else None
    if stat != "mean":
        return Measurement(
            metric=metric, value=value, higher_is_better=hib, source=where
        )
    rounds = stats.get("rounds")
    n = (
        rounds
        if isinstance(rounds, int) and not isinstance(rounds, bool) and rounds >= 1
        else None
    )
    raw = stats.get("data")
    samples = (
        tuple(_number(x, f"data of {name} in {where}") for x in raw)
        if isinstance(raw, list)
        else ()
    )
    stddev = stats.get("stddev")
    stderr = None
    if n is not None and n >= 2 and _is_finite_number(stddev):
        stderr = stddev / math.sqrt(n)
    return Measurement(
        metric=metric,
        value=value,
        stderr=stderr,
        n=len(samples) or n,
        samples=samples,
        samples_kind="runs",
        higher_is_better=hib,
        source=where,
    )


def read_pytest_benchmark(path: str | os.PathLike[str], metric: str) -> Measurement:
    """Read one benchmark statistic from a `--benchmark-json` file."""
    return parse_pytest_benchmark(
        _load_json(path), metric, source=f"pytest-benchmark {os.fspath(path)}"
    )


# ---------------------------------------------------------------------------------------
# Generic JSON with key paths
# ---------------------------------------------------------------------------------------


_PLAIN_KEY = re.compile(r'[^.\[\]"]+')


def parse_key_path(path: str) -> tuple[str | int, ...]:
    """Split `metrics.accuracy`, `results[0].score` or `scores."exact.match"` into steps.

    Dots separate keys, `[N]` indexes a list, and double quotes protect a key that
    contains dots or brackets (metric names often do).
    """
    steps: list[str | int] = []
    pos, end = 0, len(path)
    expect_key = True  # at the start or right after a dot a key must follow
    while pos < end:
        char = path[pos]
        if char == "[":
            close = path.find("]", pos)
            if close < 0 or not path[pos + 1 : close].isdigit():
                raise ResultsError(
                    f"key path {path!r}: '[' at {pos} must be '[N]' (N >= 0)"
                )
            steps.append(int(path[pos + 1 : close]))
            pos, expect_key = close + 1, False
        elif char == "." and not expect_key:
            pos, expect_key = pos + 1, True
            if pos == end:
                raise ResultsError(f"key path {path!r} ends with a dot")
        elif char == '"' and expect_key:
            close = path.find('"', pos + 1)
            if close < 0:
                raise ResultsError(f"key path {path!r}: unclosed quote at {pos}")
            steps.append(path[pos + 1 : close])
            pos, expect_key = close + 1, False
        elif expect_key and char not in '.]"':
            match = _PLAIN_KEY.match(path, pos)
            assert match is not None  # the first character is allowed, so it matches
            steps.append(match.group())
            pos, expect_key = match.end(), False
        else:
            raise ResultsError(
                f"key path {path!r} is malformed at position {pos}; use dots between keys, "
                '[N] for list items and "..." around keys that contain dots'
            )
    if not steps:
        raise ResultsError("key path is empty")
    return tuple(steps)


def lookup(data: Any, path: str) -> Any:
    """Follow a key path into parsed JSON, saying which step failed."""
    node = data
    walked = ""
    for key in parse_key_path(path):
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if walked else key)
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise ResultsError(
                    f"{walked or 'the document'} has no item {key} (path {path!r})"
                )
        elif not isinstance(node, Mapping) or key not in node:
            have = (
                ", ".join(sorted(map(str, node)))
                if isinstance(node, Mapping)
                else "no keys"
            )
            raise ResultsError(
                f"{walked or 'the document'} has no key {key!r} (path {path!r}); it has {have}"
            )
        node = node[key]
        walked += step
    return node


def parse_json_metric(
    data: Any,
    value_path: str,
    *,
    stderr_path: str | None = None,
    n_path: str | None = None,
    metric: str | None = None,
    proportion: bool = False,
    source: str = "",
) -> Measurement:
    """Read a value (and optionally its stderr and n) from any JSON by key paths.

    A value path that points at a list of numbers is read as per-item scores: their
    mean is the value and the list is kept for the comparison.
    """
    where = source or "JSON results"
    try:
        raw = lookup(data, value_path)
        stderr_raw = lookup(data, stderr_path) if stderr_path else None
        n_raw = lookup(data, n_path) if n_path else None
    except ResultsError as err:
        raise ResultsError(f"{where}: {err}") from None
    samples: tuple[float, ...] = ()
    if isinstance(raw, list):
        samples = tuple(_number(x, f"{value_path} in {where}") for x in raw)
        if not samples:
            raise ResultsError(f"{where}: {value_path} is an empty list")
        value = math.fsum(samples) / len(samples)
    else:
        value = _number(raw, f"{value_path} in {where}")
    n = _count(n_raw, f"{n_path} in {where}") if n_path else (len(samples) or None)
    return Measurement(
        metric=metric or value_path,
        value=value,
        stderr=_optional_stderr(stderr_raw, value_path, where) if stderr_path else None,
        n=n,
        samples=samples,
        samples_kind="scores",
        proportion=proportion and n is not None and 0.0 <= value <= 1.0,
        source=where,
    )


def read_json_metric(
    path: str | os.PathLike[str],
    value_path: str,
    *,
    stderr_path: str | None = None,
    n_path: str | None = None,
    metric: str | None = None,
    proportion: bool = False,
) -> Measurement:
    """Read a metric from a JSON file by key paths (see `parse_json_metric`)."""
    return parse_json_metric(
        _load_json(path),
        value_path,
        stderr_path=stderr_path,
        n_path=n_path,
        metric=metric,
        proportion=proportion,
        source=f"JSON {os.fspath(path)}",
    )


# ---------------------------------------------------------------------------------------
# Plain mappings (metrics carried inside dry-run evidence)
# ---------------------------------------------------------------------------------------

_MAPPING_KEYS = frozenset(
    {"value", "stderr", "n", "samples", "samples_kind", "proportion"}
)


def measurement_from_mapping(
    metrics: Mapping[str, Any], metric: str, *, source: str = "metrics"
) -> Measurement:
    """Read `{metric: value}` or `{metric: {value, stderr?, n?, samples?, proportion?}}`.

    This is the shape metrics take inside evidence: small, explicit, already parsed.
    """
    if metric not in metrics:
        raise ResultsError(
            f"{source}: no metric {metric!r}; it has {', '.join(sorted(metrics)) or 'none'}"
        )
    entry = metrics[metric]
    if not isinstance(entry, Mapping):
        return Measurement(
            metric=metric, value=_number(entry, f"{metric} in {source}"), source=source
        )
    unknown = set(entry) - _MAPPING_KEYS
    if unknown:
        raise ResultsError(
            f"{source}: metric {metric!r} has unknown keys {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_MAPPING_KEYS))}"
        )
    raw_samples = entry.get("samples", ())
    if not isinstance(raw_samples, Sequence) or isinstance(raw_samples, str):
        raise ResultsError(f"{source}: samples of {metric!r} must be a list of numbers")
    samples = tuple(_number(x, f"samples of {metric} in {source}") for x in raw_samples)
    if "value" in entry:
        value = _number(entry["value"], f"{metric} in {source}")
    elif samples:
        value = math.fsum(samples) / len(samples)
    else:
        raise ResultsError(
            f"{source}: metric {metric!r} has neither 'value' nor 'samples'"
        )
    kind = entry.get("samples_kind", "runs")
    if kind not in ("runs", "scores"):
        raise ResultsError(
            f"{source}: samples_kind of {metric!r} must be 'runs' or 'scores'"
        )
    n = (
        _count(entry["n"], f"n of {metric} in {source}")
        if "n" in entry
        else (len(samples) or None)
    )
    return Measurement(
        metric=metric,
        value=value,
        stderr=_optional_stderr(entry.get("stderr"), metric, source),
        n=n,
        samples=samples,
        samples_kind=kind,
        proportion=bool(entry.get("proportion", False)),
        source=source,
    )


# ---------------------------------------------------------------------------------------
# Format registry
# ---------------------------------------------------------------------------------------

FILE_FORMATS = ("lm-eval", "pytest-benchmark", "json", "promptfoo", "deepeval", "openai-evals")
"""Policy `format:` names of result files."""


def _tool_parsers() -> dict[str, Callable[..., Measurement]]:
    from engine.facts import eval_tools

    return {
        "promptfoo": eval_tools.parse_promptfoo,
        "deepeval": eval_tools.parse_deepeval,
        "openai-evals": eval_tools.parse_openai_evals,
    }


FORMATS: Mapping[str, Callable[..., Measurement]] = {
    "lm-eval": parse_lm_eval,
    "pytest-benchmark": parse_pytest_benchmark,
    "json": parse_json_metric,
    "mapping": measurement_from_mapping,
}
"""Policy `format:` names mapped to parsers of already-loaded data (the eval tools' own
formats are in engine.facts.eval_tools, see `parser`)."""


def parser(fmt: str) -> Callable[..., Measurement]:
    """The parser of already-loaded data for a format name."""
    found = FORMATS.get(fmt) or _tool_parsers().get(fmt)
    if found is None:
        known = sorted({*FORMATS, *FILE_FORMATS})
        raise ResultsError(f"unknown results format {fmt!r}; known formats: {', '.join(known)}")
    return found


def load_results(fmt: str, path: str | os.PathLike[str]) -> Any:
    """A result file's parsed content: JSON, or a list of JSONL records (openai-evals)."""
    if fmt == "openai-evals":
        from engine.facts.eval_tools import load_openai_evals

        return load_openai_evals(path)
    return _load_json(path)


def read_results(
    fmt: str, path: str | os.PathLike[str], metric: str, **options: Any
) -> Measurement:
    """Read `metric` from the file at `path` in the named format (see `FORMATS`)."""
    parse = parser(fmt)
    return parse(load_results(fmt, path), metric, source=f"{fmt} {os.fspath(path)}", **options)


def metric_names(fmt: str, data: Any) -> list[str]:
    """Every metric name a loaded result file offers, for globs over a suite's metrics."""
    from engine.facts import eval_tools

    if fmt == "lm-eval":
        names = []
        for section in ("results", "groups"):
            tables = data.get(section) if isinstance(data, Mapping) else None
            for task, table in (tables or {}).items():
                if isinstance(table, Mapping):
                    names += [f"{task}:{k}" for k in table if k != "alias" and "_stderr" not in k
                              and _is_finite_number(table[k])]
        return list(dict.fromkeys(names))
    if fmt == "pytest-benchmark":
        benches = data.get("benchmarks") if isinstance(data, Mapping) else None
        return [f"{b.get('name')}:{stat}" for b in benches or [] if isinstance(b, Mapping)
                for stat in (b.get("stats") or {}) if stat != "data"]
    if fmt == "promptfoo":
        return eval_tools.promptfoo_names(data)
    if fmt == "deepeval":
        return eval_tools.deepeval_names(data)
    if fmt == "openai-evals":
        return eval_tools.openai_evals_names(data)
    if fmt == "mapping" and isinstance(data, Mapping):
        return sorted(map(str, data))
    raise ResultsError(f"a {fmt} file does not list its metrics: name them in metrics: without globs")


def lm_eval_task_names(data: Any) -> list[str]:
    """Every task and group an lm-eval results file names (results, configs, n-samples)."""
    names: list[str] = []
    for section in ("results", "groups", "configs", "n-samples", "versions"):
        table = data.get(section) if isinstance(data, Mapping) else None
        if isinstance(table, Mapping):
            names += [str(k) for k in table]
    return list(dict.fromkeys(names))


def lm_eval_group_tasks(data: Any, group: str, *, source: str = "") -> list[str]:
    """The leaf tasks of an lm-eval group (`group_subtasks`, nested groups expanded)."""
    subtasks = data.get("group_subtasks") if isinstance(data, Mapping) else None
    if not isinstance(subtasks, Mapping) or group not in subtasks:
        have = sorted(k for k, v in (subtasks or {}).items() if v) if isinstance(subtasks, Mapping) else []
        raise ResultsError(f"{source or 'lm-eval results'}: no group {group!r} in group_subtasks; groups: "
                           f"{', '.join(have) or 'none'}")
    leaves: list[str] = []
    stack, seen = [group], set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        children = subtasks.get(name)
        if isinstance(children, list) and children:
            stack.extend(reversed([str(c) for c in children]))
        elif name != group:
            leaves.append(name)
    if not leaves:
        raise ResultsError(f"{source or 'lm-eval results'}: group {group!r} has no subtasks")
    return leaves


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _load_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ResultsError(f"results file {os.fspath(path)} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(
            f"cannot read results file {os.fspath(path)}: {err}"
        ) from None
    except json.JSONDecodeError as err:
        raise ResultsError(
            f"results file {os.fspath(path)} is not valid JSON: {err.msg} "
            f"at line {err.lineno} column {err.colno}"
        ) from None


def _is_finite_number(x: object) -> TypeGuard[float]:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _number(raw: Any, what: str) -> float:
    if not _is_finite_number(raw):
        raise ResultsError(f"{what} is {raw!r}, not a finite number")
    return float(raw)


def _count(raw: Any, what: str) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise ResultsError(f"{what} is {raw!r}, not a count >= 1")
    return raw

"""Live numbers from Prometheus: a client of its HTTP API and typed views of its answers.

Every query is asked at an explicit time (``at``, never "now" on the server's clock), so a
decision can be reproduced. Answers are decoded strictly: scalar, vector, matrix and string
results become `QueryResult`s of labelled `Series`; anything else is ``malformed``. Server
trouble (unreachable, timeout, HTTP errors, a rejected query, malformed answers, missing
credentials) raises a `PrometheusError` whose ``kind`` a policy can react to. What the
numbers mean for a threshold is judged in engine.rules.threshold_verdicts; alerting-rule
files are read by engine.facts.alert_rules.

`requests` is imported inside the functions that talk HTTP: this module is also imported
on the git hook's path, where every millisecond of import time counts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    import requests

    from engine.facts.http import Stopped

__all__ = [
    "ActiveAlert",
    "ErrorKind",
    "Labels",
    "PrometheusClient",
    "PrometheusError",
    "QueryResult",
    "Sample",
    "Series",
    "format_labels",
]

ErrorKind = Literal["unreachable", "timeout", "http", "bad_query", "malformed", "config"]
ResultType = Literal["vector", "scalar", "matrix", "string"]

#: Labels of one series, sorted by name: hashable and immutable, unlike a dict.
Labels = tuple[tuple[str, str], ...]


class PrometheusError(Exception):
    """Anything that kept us from getting a usable answer from Prometheus.

    ``kind`` lets a policy react to the class of failure (unreachable, timeout, http,
    bad_query, malformed, config) without parsing the message.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


class Sample(NamedTuple):
    """One value of a series at one time (unix seconds)."""

    timestamp: float
    value: float


class Series(NamedTuple):
    """One labelled series: one sample for a vector or scalar, many for a matrix."""

    labels: Labels
    samples: tuple[Sample, ...]


class QueryResult(NamedTuple):
    """A decoded ``data`` object of a query answer; ``text`` only for string results."""

    result_type: ResultType
    series: tuple[Series, ...]
    text: str | None = None
    warnings: tuple[str, ...] = ()


class ActiveAlert(NamedTuple):
    """An alert the server currently holds (``/api/v1/alerts``)."""

    name: str
    labels: Labels
    state: str  # "pending" or "firing"
    active_at: str | None
    value: str | None


def format_labels(labels: Labels) -> str:
    """PromQL-style series name, e.g. ``errors_total{service="bad"}``."""
    name = dict(labels).get("__name__", "")
    inner = ", ".join(f'{key}="{value}"' for key, value in labels if key != "__name__")
    if not name and not inner:
        return "{}"
    return f"{name}{{{inner}}}" if inner else name


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class PrometheusClient:
    """Talks to one Prometheus server's HTTP API.

    Credentials are never stored in the policy: the caller names environment variables
    (``token_env`` for a bearer token, or ``username_env``/``password_env`` for basic
    auth) that are read at request time. Connection failures, 429 and 5xx answers are
    retried ``retries`` times with doubling ``backoff`` (engine.facts.http), waiting
    ``max_wait`` seconds at most in all; other 4xx answers and read timeouts are not (the
    same request would fail the same way, and a hook's time budget is short).
    """

    url: str
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.25
    max_wait: float = 30.0
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    environ: Mapping[str, str] | None = None  # where the named variables are read (None: this process's)

    def query(self, query: str, *, at: float) -> QueryResult:
        """Instant query evaluated at ``at`` (unix seconds)."""
        data = self._call("/api/v1/query", {"query": query, "time": _seconds(at)})
        return _parse_query_data(data)

    def query_range(self, query: str, *, start: float, end: float, step: float) -> QueryResult:
        """Range query over [start, end] evaluated every ``step`` seconds."""
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        params = {
            "query": query,
            "start": _seconds(start),
            "end": _seconds(end),
            "step": _seconds(step),
        }
        return _parse_query_data(self._call("/api/v1/query_range", params))

    def alerts(self) -> tuple[ActiveAlert, ...]:
        """Alerts the server holds now: pending and firing, from its loaded rules."""
        data = self._call("/api/v1/alerts", None)
        raw = data.get("alerts") if isinstance(data, Mapping) else None
        if not isinstance(raw, list):
            raise PrometheusError(
                "malformed",
                f"{self._where('/api/v1/alerts')} answered without an alerts list",
            )
        alerts = []
        for item in raw:
            if not isinstance(item, Mapping) or not isinstance(item.get("labels"), Mapping):
                raise PrometheusError(
                    "malformed",
                    f"{self._where('/api/v1/alerts')} returned an alert without labels",
                )
            labels = _labels(item["labels"], self._where("/api/v1/alerts"))
            active_at, value = item.get("activeAt"), item.get("value")
            alerts.append(
                ActiveAlert(
                    name=dict(labels).get("alertname", ""),
                    labels=labels,
                    state=str(item.get("state", "")),
                    active_at=str(active_at) if active_at is not None else None,
                    value=str(value) if value is not None else None,
                )
            )
        return tuple(alerts)

    # -- plumbing

    def _where(self, path: str) -> str:
        return f"Prometheus at {self.url} ({path})"

    def _auth(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        """Headers and basic-auth pair from the named environment variables."""
        headers = {"Accept": "application/json"}
        env = os.environ if self.environ is None else self.environ
        if self.token_env:
            token = env.get(self.token_env, "")
            if not token:
                raise PrometheusError(
                    "config",
                    f"the Prometheus bearer token variable {self.token_env} is not set; "
                    f"export {self.token_env} or remove token_env from the source",
                )
            headers["Authorization"] = f"Bearer {token}"
        basic = None
        if self.username_env or self.password_env:
            names = [name for name in (self.username_env, self.password_env) if name]
            missing = [name for name in names if not env.get(name)]
            if len(names) < 2 or missing:
                raise PrometheusError(
                    "config",
                    "Prometheus basic auth needs both username_env and password_env set "
                    f"and exported (missing: {', '.join(missing) or 'one of the two names'})",
                )
            basic = (env[names[0]], env[names[1]])
        return headers, basic

    def _call(self, path: str, form: Mapping[str, str] | None) -> Mapping[str, object]:
        """One API call, retried by the engine's HTTP policy; returns the ``data`` member of a success answer."""
        import requests

        from engine.facts import http

        headers, basic = self._auth()
        url = self.url.rstrip("/") + path
        policy = http.RetryPolicy(attempts=self.retries + 1, backoff=self.backoff, max_wait=self.max_wait)
        with http.session(policy, timeout=(self.connect_timeout, self.read_timeout), headers=headers) as session:
            try:
                # POST with a form body: long PromQL fits, and Prometheus accepts it on
                # every query endpoint; the alerts endpoint is GET only.
                response = session.request(
                    "POST" if form is not None else "GET",
                    url,
                    data=dict(form) if form is not None else None,
                    auth=basic,
                    allow_redirects=False,
                )
            except requests.exceptions.ReadTimeout:
                raise self._timeout(path) from None
            except requests.exceptions.ConnectionError as exc:
                if _is_read_timeout(exc):
                    raise self._timeout(path) from None
                unreachable = PrometheusError(
                    "unreachable",
                    f"cannot connect to Prometheus at {self.url} ({_reason(exc)}); "
                    "check that it is running and that the source URL is right",
                )
                raise _after_retries(unreachable, http.stopped(exc)) from None
            except requests.exceptions.RequestException as exc:
                raise PrometheusError("config", f"cannot send a request to {url!r}: {_reason(exc)}") from None
            stopped = http.stopped(response)
            if stopped is not None:  # a failed answer, retried as far as the policy allows
                raise _after_retries(_error_from(response, self._where(path)), stopped)
            return _decode(response, self._where(path), self.url)

    def _timeout(self, path: str) -> PrometheusError:
        return PrometheusError(
            "timeout",
            f"{self._where(path)} did not answer within {self.read_timeout:g}s; "
            "the query may be too expensive or the server overloaded",
        )


def _after_retries(error: PrometheusError, stopped: Stopped | None) -> PrometheusError:
    """The error, saying why retrying stopped (when it was retried at all)."""
    note = stopped.note() if stopped is not None else ""
    return PrometheusError(error.kind, f"{error.message} ({note})") if note else error


def _seconds(value: float) -> str:
    """Millisecond-precision unix seconds, the resolution Prometheus works in."""
    return f"{value:.3f}"


def _reason(exc: BaseException) -> str:
    """The innermost readable cause, without urllib3's object reprs."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    return text[:200] or type(exc).__name__


def _is_read_timeout(exc: BaseException) -> bool:
    """requests reports a body read that timed out as a ConnectionError."""
    from urllib3.exceptions import ReadTimeoutError

    return any(isinstance(arg, ReadTimeoutError) for arg in exc.args)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:120] + ("…" if len(flat) > 120 else "")


def _json_body(response: requests.Response) -> object:
    import json

    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _error_from(response: requests.Response, where: str) -> PrometheusError:
    """A PrometheusError for a non-success answer, using Prometheus's own words."""
    code = response.status_code
    body = _json_body(response)
    if isinstance(body, Mapping) and body.get("status") == "error":
        error_type = str(body.get("errorType", "unknown"))
        error = str(body.get("error", "")).strip() or "no error message"
        kind: ErrorKind
        if error_type in ("bad_data", "execution"):
            kind = "bad_query"
            text = f"{where} rejected the query: {error} ({error_type}, HTTP {code})"
        elif error_type == "timeout":
            kind = "timeout"
            text = f"{where} gave up on the query: {error} (timeout, HTTP {code})"
        else:
            kind = "http"
            text = f"{where} failed: {error} ({error_type}, HTTP {code})"
        return PrometheusError(kind, text)
    hint = ""
    if code == 404:
        hint = "; the source URL must be the Prometheus server root (e.g. http://host:9090)"
    elif code in (401, 403):
        hint = "; check the credentials named by token_env or username_env/password_env"
    elif 300 <= code < 400:
        hint = f"; it redirects to {response.headers.get('Location', '?')}, use that URL"
    reason = _snippet(response.text) or response.reason or "no body"
    return PrometheusError("http", f"{where} answered HTTP {code}: {reason}{hint}")


def _decode(response: requests.Response, where: str, base: str) -> Mapping[str, object]:
    """The ``data`` member of a success answer, or a PrometheusError saying why not."""
    if response.status_code != 200:
        raise _error_from(response, where)
    body = _json_body(response)
    if body is None:
        raise PrometheusError(
            "malformed",
            f"{where} answered with something that is not JSON "
            f"({_snippet(response.text)!r}); is {base} a Prometheus server?",
        )
    if isinstance(body, Mapping) and body.get("status") == "error":
        raise _error_from(response, where)
    if not isinstance(body, Mapping) or body.get("status") != "success":
        raise PrometheusError(
            "malformed",
            f'{where} answered JSON without status "success": {_snippet(response.text)!r}',
        )
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise PrometheusError("malformed", f"{where} answered without a data object")
    warnings = body.get("warnings")
    if isinstance(warnings, list) and warnings:
        return {**data, "_warnings": [str(item) for item in warnings]}
    return data


def _labels(raw: object, where: str) -> Labels:
    if not isinstance(raw, Mapping):
        raise PrometheusError("malformed", f"{where}: a series has no label object")
    return tuple(sorted((str(key), str(value)) for key, value in raw.items()))


def _sample(raw: object, where: str) -> Sample:
    """``[<unix seconds>, "<value>"]``: values are strings so NaN and ±Inf survive JSON."""
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str)):
        raise PrometheusError("malformed", f'{where}: a sample is not [time, "value"]: {raw!r:.80}')
    try:
        return Sample(float(raw[0]), float(raw[1]))
    except (TypeError, ValueError):
        raise PrometheusError("malformed", f"{where}: a sample has a bad number: {raw!r:.80}") from None


def _parse_query_data(data: Mapping[str, object]) -> QueryResult:
    """Typed view of a query answer's ``data``; any deviation from the API is malformed."""
    where = "Prometheus query answer"
    result_type = data.get("resultType")
    result = data.get("result")
    raw_warnings = data.get("_warnings")
    warnings = tuple(raw_warnings) if isinstance(raw_warnings, list) else ()
    if result_type == "scalar":
        return QueryResult("scalar", (Series((), (_sample(result, where),)),), None, warnings)
    if result_type == "string":
        if not (isinstance(result, list) and len(result) == 2):
            raise PrometheusError("malformed", f"{where}: a string result is not [time, text]")
        return QueryResult("string", (), str(result[1]), warnings)
    if result_type not in ("vector", "matrix"):
        raise PrometheusError("malformed", f"{where}: unknown resultType {result_type!r}")
    if not isinstance(result, list):
        raise PrometheusError("malformed", f"{where}: result is not a list")
    series = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PrometheusError("malformed", f"{where}: a series is not an object")
        labels = _labels(item.get("metric"), where)
        if result_type == "vector":
            samples: tuple[Sample, ...] = (_sample(item.get("value"), where),)
        else:
            values = item.get("values", [])
            if not isinstance(values, list):
                raise PrometheusError("malformed", f"{where}: a series' values are not a list")
            samples = tuple(_sample(value, where) for value in values)
        series.append(Series(labels, samples))
    return QueryResult(result_type, tuple(series), None, warnings)

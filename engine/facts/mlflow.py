"""Metrics from an MLflow tracking server, over its REST API.

We talk REST rather than import `mlflow`: the client library weighs hundreds of MB and the
gate only needs three read-only calls (runs/get, runs/search, metrics/get-history).
`requests` is imported when the first call is made, never at module import, because the
git hook imports the engine package.

`runs/search` returns only the latest value of each metric; `metrics/get-history`
returns every logged value, which `read_mlflow_metric(mode="history")` treats as repeated
runs of the same evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from engine.facts.results import Measurement

if TYPE_CHECKING:
    import requests

    from engine.facts.http import Stopped

MlflowMode = Literal["latest", "history", "runs"]

API = "/api/2.0/mlflow"
_HISTORY_PAGE = 1000  # get-history pagination size (servers cap it at 25,000)


class MlflowError(Exception):
    """The MLflow server could not answer, refused, or has no such run or metric."""


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class Run:
    """The parts of an MLflow run the gate reads: identity, latest metrics, tags."""

    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...] = ()


class MlflowClient:
    """A small read-only MLflow REST client with timeouts and bounded retries.

    Connection errors, timeouts, 429 and 5xx answers are retried `retries` times with a
    doubling pause starting at `backoff` seconds, `max_wait` seconds at most in all
    (engine.facts.http); other 4xx answers are not (they will not change). Every failure
    becomes an `MlflowError` that says what to check.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
        max_wait: float = 30.0,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._token = token
        self._basic = basic
        self._session: requests.Session | None = None

    # -- the three calls ---------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """Fetch one run by id; MlflowError names the id when it does not exist."""
        body = self._call("GET", "/runs/get", params={"run_id": run_id})
        run = body.get("run")
        if not isinstance(run, Mapping):
            raise MlflowError(f"MLflow at {self.url} answered runs/get without a run")
        return _parse_run(run)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 100,
    ) -> tuple[Run, ...]:
        """Runs of the experiments matching an MLflow filter (e.g. `tags.git_tree = 'x'`).

        Reads one page of at most `max_results` runs: the gate wants the newest few
        (order_by `attributes.start_time DESC`), never a whole experiment.
        """
        payload: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "max_results": max_results,
        }
        if order_by:
            payload["order_by"] = list(order_by)
        body = self._call("POST", "/runs/search", json=payload)
        runs = body.get("runs", [])
        if not isinstance(runs, list):
            raise MlflowError(f"MLflow at {self.url} answered runs/search without a run list")
        return tuple(_parse_run(r) for r in runs if isinstance(r, Mapping))

    def metric_history(self, run_id: str, key: str) -> tuple[MetricPoint, ...]:
        """Every value logged for `key` in the run, oldest step first.

        The server answers an unknown run id here with an empty history, not an error,
        so callers that need "run not found" should `get_run` first.
        """
        points: list[MetricPoint] = []
        token: str | None = None
        for _ in range(10_000):  # bounded: a server looping on page tokens cannot hang us
            params: dict[str, Any] = {
                "run_id": run_id,
                "metric_key": key,
                "max_results": _HISTORY_PAGE,
            }
            if token:
                params["page_token"] = token
            body = self._call("GET", "/metrics/get-history", params=params)
            points.extend(_parse_point(p) for p in body.get("metrics", []) if isinstance(p, Mapping))
            token = body.get("next_page_token") or None
            if not token:
                break
        return tuple(sorted(points, key=lambda p: (p.step, p.timestamp)))

    def model_version(self, name: str, *, version: str | None = None, alias: str | None = None) -> ModelVersion:
        """A registered model's version, by number or by alias (`champion`), from the registry."""
        if alias is not None:
            body = self._call("GET", "/registered-models/alias", params={"name": name, "alias": alias})
        else:
            body = self._call("GET", "/model-versions/get", params={"name": name, "version": version})
        raw = body.get("model_version")
        if not isinstance(raw, Mapping):
            raise MlflowError(f"MLflow at {self.url} answered without a model_version for {name}")
        return ModelVersion(name=str(raw.get("name", name)), version=str(raw.get("version", "")),
                            run_id=str(raw.get("run_id") or ""), aliases=tuple(map(str, raw.get("aliases") or ())))

    # -- transport ---------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        import requests

        from engine.facts import http

        if self._session is None:
            policy = http.RetryPolicy(
                attempts=self.retries + 1, backoff=self.backoff, max_wait=self.max_wait, read_timeouts=True
            )
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._session = http.session(policy, timeout=self.timeout, headers=headers)
            if self._basic is not None:
                self._session.auth = self._basic
        endpoint = f"{self.url}{API}{path}"
        what = f"{method} {API}{path}"
        try:
            response = self._session.request(method, endpoint, params=params, json=json)
        except requests.RequestException as err:
            if http.timed_out(err):
                problem = f"no answer within {self.timeout:g} s"
            elif isinstance(err, requests.ConnectionError):
                problem = f"cannot connect ({_root_cause(err)})"
            else:
                raise MlflowError(f"MLflow request {what} to {self.url} failed: {err}") from None
            raise self._unreachable(what, problem, http.stopped(err)) from None
        stopped = http.stopped(response)
        if response.status_code >= 500:
            raise self._unreachable(what, _http_problem(response), stopped)
        if response.status_code >= 400:
            note = f" ({stopped.note()})" if stopped is not None and stopped.note() else ""
            raise MlflowError(
                f"MLflow at {self.url} refused {what}: {_http_problem(response)}{note}"
            )
        try:
            body = response.json()
        except ValueError:
            raise MlflowError(
                f"MLflow at {self.url} answered {what} with non-JSON: "
                f"{response.text[:200]!r}"
            ) from None
        if not isinstance(body, Mapping):
            raise MlflowError(f"MLflow at {self.url} answered {what} with {body!r}")
        return body

    def _unreachable(self, what: str, problem: str, stopped: Stopped | None) -> MlflowError:
        """The last failure once retrying stopped (the attempts ran out, or the next wait was too long)."""
        attempts = stopped.attempts if stopped is not None else 1
        wait = f" ({stopped.note()})" if stopped is not None and stopped.needed is not None else ""
        return MlflowError(
            f"MLflow at {self.url} is unreachable for {what}: {problem} "
            f"after {attempts} attempt{'s' if attempts > 1 else ''}{wait}; check that the "
            "tracking server runs and the source url is right"
        )

    def close(self) -> None:
        """Release pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_run(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    *,
    filter_string: str = "",
    run_name: str | None = None,
    order_by: Sequence[str] = ("attributes.start_time DESC",),
) -> Run:
    """The newest run matching `filter_string` and/or `run_name`; MlflowError if none."""
    filters = [f for f in (filter_string, _name_filter(run_name)) if f]
    combined = " and ".join(filters)
    runs = client.search_runs(
        experiment_ids, filter_string=combined, order_by=order_by, max_results=1
    )
    if not runs:
        raise MlflowError(
            f"no MLflow run in experiment(s) {', '.join(experiment_ids)} matches "
            f"{combined or 'any filter'} at {client.url}; was the evaluation logged?"
        )
    return runs[0]


def read_mlflow_metric(
    client: MlflowClient,
    metric: str,
    *,
    run_id: str | None = None,
    experiment_ids: Sequence[str] = (),
    filter_string: str = "",
    run_name: str | None = None,
    mode: MlflowMode = "latest",
    max_runs: int = 100,
) -> Measurement:
    """Read `metric` from MLflow as a Measurement.

    The run is `run_id`, or the newest one matching the filter / run name. `mode`:
    - `latest`: the latest value only (no uncertainty);
    - `history`: every value logged in that run, read as repeated runs of one eval;
    - `runs`: the latest value of every matching run (up to `max_runs`), one per
      repeated run, for teams that log each repetition as its own MLflow run.
    """
    if mode == "runs":
        if run_id is not None:
            raise MlflowError("mode 'runs' reads every matching run: give a filter, not run_id")
        filters = [f for f in (filter_string, _name_filter(run_name)) if f]
        runs = client.search_runs(
            experiment_ids, filter_string=" and ".join(filters), max_results=max_runs
        )
        values = tuple(r.metrics[metric] for r in runs if metric in r.metrics)
        if not values:
            raise MlflowError(
                f"no MLflow run matching {' and '.join(filters) or 'any filter'} in "
                f"experiment(s) {', '.join(experiment_ids)} logged {metric!r} at {client.url}"
            )
        return _from_values(metric, values, f"MLflow {client.url}: {len(values)} runs")
    if run_id is not None:
        run = client.get_run(run_id)
    else:
        run = find_run(
            client, experiment_ids, filter_string=filter_string, run_name=run_name
        )
    where = f"MLflow {client.url} run {run.run_id}"
    if metric not in run.metrics:
        have = ", ".join(sorted(run.metrics)) or "none"
        raise MlflowError(f"{where} has no metric {metric!r}; it has {have}")
    if mode == "latest":
        return Measurement(metric=metric, value=run.metrics[metric], source=where)
    if mode != "history":
        raise MlflowError(f"unknown MLflow mode {mode!r}; use latest, history or runs")
    history = client.metric_history(run.run_id, metric)
    if not history:
        raise MlflowError(f"{where} reports {metric!r} but its history is empty")
    return _from_values(metric, tuple(p.value for p in history), f"{where} history")


def parse_model_uri(model: str) -> tuple[str, str | None, str | None]:
    """`models:/name@alias`, `models:/name/3`, `name@alias` or `name/3` as (name, version, alias).

    A bare name is refused: "the latest version" is not what is deployed, and MLflow
    deprecated the stage names; ask for an alias or a number.
    """
    body = model.removeprefix("models:/")
    name, at, alias = body.rpartition("@")
    if at and name and alias and "/" not in alias:
        return name, None, alias
    name, slash, version = body.rpartition("/")
    if slash and name and version.isdigit():
        return name, version, None
    raise MlflowError(f"model {model!r} must be models:/<name>@<alias> (e.g. @champion) or "
                      "models:/<name>/<version number>")


def read_model_metric(client: MlflowClient, model: str, metric: str, *, mode: MlflowMode = "latest") -> Measurement:
    """`metric` of the run behind a registered model version or alias (what is deployed)."""
    name, version, alias = parse_model_uri(model)
    if mode == "runs":
        raise MlflowError("mode 'runs' reads several runs; a model version has one: use latest or history")
    found = client.model_version(name, version=version, alias=alias)
    if not found.run_id:
        raise MlflowError(f"model {model} (version {found.version}) at {client.url} was registered without a "
                          "run, so it has no metrics; register it from its evaluation run")
    m = read_mlflow_metric(client, metric, run_id=found.run_id, mode=mode)
    return Measurement(metric=m.metric, value=m.value, stderr=m.stderr, n=m.n, samples=m.samples,
                       samples_kind=m.samples_kind, source=f"{m.source} (model {name} version {found.version})")


def mlflow_credentials(
    config: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[str | None, tuple[str, str] | None]:
    """A bearer token or a basic-auth pair for sources.mlflow, from the environment.

    `token_env`, or `username_env` + `password_env`, name the variables; without them
    MLflow's own convention applies (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD), so a CI job set up for the mlflow client works unchanged.
    A named variable that is unset is an error: silently calling without credentials
    would only turn into a less clear 401.
    """
    if config.get("token_env"):
        token = environ.get(config["token_env"])
        if not token:
            raise MlflowError(f"the MLflow token variable {config['token_env']} is not set; export it")
        return token, None
    if config.get("username_env") or config.get("password_env"):
        names = [config.get("username_env"), config.get("password_env")]
        missing = [n for n in names if not n or not environ.get(n)]
        if missing:
            raise MlflowError("MLflow basic auth needs both username_env and password_env named and exported "
                              f"(missing: {', '.join(str(n) for n in missing if n) or 'one of the two names'})")
        return None, (environ[str(names[0])], environ[str(names[1])])
    if environ.get("MLFLOW_TRACKING_TOKEN"):
        return environ["MLFLOW_TRACKING_TOKEN"], None
    user, password = environ.get("MLFLOW_TRACKING_USERNAME"), environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return None, (user, password)
    return None, None


def _from_values(metric: str, values: tuple[float, ...], source: str) -> Measurement:
    """Repeated values: their mean is the estimate, the values its spread."""
    return Measurement(
        metric=metric,
        value=math.fsum(values) / len(values),
        n=len(values),
        samples=values if len(values) >= 2 else (),
        samples_kind="runs",
        source=source,
    )


def _name_filter(run_name: str | None) -> str:
    if run_name is None:
        return ""
    return f"attributes.run_name = {quote_filter_value(run_name)}"


def quote_filter_value(text: str) -> str:
    """Quote a string for an MLflow filter: single quotes, or double if it holds a '.

    MLflow's filter grammar has no escape inside a string, so a value holding both kinds
    of quote cannot be written; we say so instead of sending a filter that means
    something else.
    """
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise MlflowError(f"{text!r} holds both ' and \"; an MLflow filter cannot express it")


def _parse_run(raw: Mapping[str, Any]) -> Run:
    info = raw.get("info", {})
    data = raw.get("data", {})
    metrics = {
        m["key"]: float(m["value"])
        for m in data.get("metrics", [])
        if isinstance(m, Mapping) and "key" in m and _numeric(m.get("value"))
    }
    tags = {t["key"]: str(t.get("value", "")) for t in data.get("tags", []) if "key" in t}
    params = {p["key"]: str(p.get("value", "")) for p in data.get("params", []) if "key" in p}
    start = info.get("start_time")
    return Run(
        run_id=str(info.get("run_id") or info.get("run_uuid", "")),
        experiment_id=str(info.get("experiment_id", "")),
        run_name=str(info.get("run_name") or tags.get("mlflow.runName", "")),
        status=str(info.get("status", "")),
        start_time=int(start) if isinstance(start, int | str) and str(start).isdigit() else None,
        metrics=metrics,
        tags=tags,
        params=params,
    )


def _parse_point(raw: Mapping[str, Any]) -> MetricPoint:
    if not _numeric(raw.get("value")):
        # MLflow serialises NaN/inf as strings; such a point cannot be compared.
        raise MlflowError(f"MLflow metric {raw.get('key')!r} has a non-numeric value {raw!r}")
    return MetricPoint(
        key=str(raw.get("key", "")),
        value=float(raw["value"]),
        step=int(raw.get("step", 0)),
        timestamp=int(raw.get("timestamp", 0)),
    )


def _numeric(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _http_problem(response: requests.Response) -> str:
    """`HTTP 404 RESOURCE_DOES_NOT_EXIST: Run 'x' not found`, from MLflow's error JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and ("error_code" in body or "message" in body):
        return f"HTTP {response.status_code} {body.get('error_code', '')}: {body.get('message', '')}"
    text = " ".join(response.text.split())[:200]
    return f"HTTP {response.status_code} {response.reason}: {text}"


def _root_cause(err: BaseException) -> str:
    # requests wraps urllib3 wraps socket errors; the innermost names the real problem.
    while err.__context__ is not None and err.__context__ is not err:
        err = err.__context__
    return f"{type(err).__name__}: {err}"

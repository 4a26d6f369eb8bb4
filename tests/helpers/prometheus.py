"""A real Prometheus for tests: backfilled history on a loopback port, stopped by PID.

Prometheus is Debian's package (``scripts/ensure-prometheus`` installs it). History is
written as OpenMetrics text and turned into TSDB blocks with ``promtool tsdb
create-blocks-from openmetrics`` before the server starts, so every query has to name
an explicit time inside that history: backfilled samples are stale five minutes of
wall clock after they were "scraped". Alert rules evaluate on the live clock only, so
the live rules loaded here (``LIVE_RULES``) fire on ``vector(1)``; rule semantics over
history are checked against ``promtool test rules`` instead.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import pytest

INSTALL_HINT = "run scripts/ensure-prometheus (installs Debian's prometheus package)"
STEP = 15  # seconds between backfilled samples, a common scrape interval
HISTORY = 2 * 3600  # seconds of history

LIVE_RULES = """\
groups:
  - name: live
    rules:
      - alert: LiveAlwaysFiring
        expr: vector(1)
        labels: {severity: page}
      - alert: LiveAlwaysPending
        expr: vector(1)
        for: 1h
"""


class SeriesSpec(NamedTuple):
    """One backfilled series: a value every STEP seconds from the start; None is a gap."""

    name: str
    labels: tuple[tuple[str, str], ...]
    kind: str  # "counter" or "gauge"
    values: tuple[float | None, ...]

    @property
    def selector(self) -> str:
        inner = ",".join(f'{key}="{value}"' for key, value in self.labels)
        return f"{self.name}{{{inner}}}"


class History(NamedTuple):
    """The backfilled data set: ``end`` is the "now" of the history, query there."""

    start: int
    end: int
    series: tuple[SeriesSpec, ...]

    def at(self, seconds_before_end: float) -> float:
        return self.end - seconds_before_end


class PrometheusServer(NamedTuple):
    """A running server and the history it holds."""

    url: str
    pid: int
    history: History
    workdir: Path


def require_tool(name: str) -> str:
    """Path of ``name``, or fail the test run: a missing server must not look like a pass."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {INSTALL_HINT}", pytrace=False)
    return path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- the data


def _counter(rates: Sequence[float]) -> tuple[float, ...]:
    """A counter whose increase per step is ``rates[i]``."""
    total, values = 0.0, []
    for increase in rates:
        total += increase
        values.append(total)
    return tuple(values)


def make_history(now: float | None = None) -> History:
    """Two hours of fixed-shape data ending on a whole hour two to three hours ago.

    Shapes (times relative to ``end``):
    * requests_total: 100 per 15 s for services good, bad and flaky.
    * errors_total: good 1% throughout; bad 1% until end-60m, then 10%; flaky 1% until
      end-3m, then 10% (over 0.05 for less than a 5m ``for``).
    * latency_p99_seconds: steady 0.2; spiky 0.2 but 2.0 during [end-10m, end-9m).
    * model_accuracy: ok 0.9, nan NaN, inf +Inf.
    * gpu_utilization: solid 0.5; gappy 0.5 with no samples in (end-40m, end-20m).
    """
    current = time.time() if now is None else now
    end = int(current) // 3600 * 3600 - 2 * 3600
    start = end - HISTORY
    times = [start + STEP * i for i in range(HISTORY // STEP + 1)]

    def rel(t: int) -> int:
        return t - end

    def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(pairs.items()))

    requests = _counter([100.0 for _ in times])
    series = [
        SeriesSpec("requests_total", labels(service=svc), "counter", requests) for svc in ("good", "bad", "flaky")
    ]
    series.append(SeriesSpec("errors_total", labels(service="good"), "counter", _counter([1.0 for _ in times])))
    series.append(
        SeriesSpec(
            "errors_total",
            labels(service="bad"),
            "counter",
            _counter([10.0 if rel(t) > -3600 else 1.0 for t in times]),
        )
    )
    series.append(
        SeriesSpec(
            "errors_total",
            labels(service="flaky"),
            "counter",
            _counter([10.0 if rel(t) > -180 else 1.0 for t in times]),
        )
    )
    series.append(SeriesSpec("latency_p99_seconds", labels(service="steady"), "gauge", tuple(0.2 for _ in times)))
    series.append(
        SeriesSpec(
            "latency_p99_seconds",
            labels(service="spiky"),
            "gauge",
            tuple(2.0 if -600 <= rel(t) < -540 else 0.2 for t in times),
        )
    )
    for model, value in (("ok", 0.9), ("nan", math.nan), ("inf", math.inf)):
        series.append(SeriesSpec("model_accuracy", labels(model=model), "gauge", tuple(value for _ in times)))
    series.append(SeriesSpec("gpu_utilization", labels(node="solid"), "gauge", tuple(0.5 for _ in times)))
    series.append(
        SeriesSpec(
            "gpu_utilization",
            labels(node="gappy"),
            "gauge",
            tuple(None if -2400 < rel(t) < -1200 else 0.5 for t in times),
        )
    )
    return History(start, end, tuple(series))


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def openmetrics(history: History) -> str:
    """OpenMetrics text for promtool: families contiguous, counters with ``_total``."""
    lines: list[str] = []
    families: dict[str, list[SeriesSpec]] = {}
    for spec in history.series:
        families.setdefault(spec.name, []).append(spec)
    for name, members in families.items():
        kind = members[0].kind
        family = name.removesuffix("_total") if kind == "counter" else name
        lines.append(f"# TYPE {family} {kind}")
        for spec in members:
            for i, value in enumerate(spec.values):
                if value is not None:
                    lines.append(f"{spec.selector} {_number(value)} {history.start + STEP * i}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def promtool_values(spec: SeriesSpec) -> str:
    """The same series in promtool's ``input_series`` notation (``_`` marks a gap)."""
    words = []
    for value in spec.values:
        if value is None:
            words.append("_")
        elif math.isnan(value):
            words.append("NaN")
        elif math.isinf(value):
            words.append("Inf" if value > 0 else "-Inf")
        else:
            words.append(repr(value))
    return " ".join(words)


# --------------------------------------------------------------------------- the server


@contextmanager
def running_prometheus(
    workdir: Path,
    history: History,
    *,
    rules: str = LIVE_RULES,
    web_config: str | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Backfill ``history``, start Prometheus on a free loopback port, stop it by PID."""
    prometheus = require_tool("prometheus")
    promtool = require_tool("promtool")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    source = workdir / "history.om"
    source.write_text(openmetrics(history))
    backfill = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if backfill.returncode != 0:
        pytest.fail(f"promtool backfill failed: {backfill.stderr.strip()}", pytrace=False)
    (workdir / "live_rules.yml").write_text(rules)
    (workdir / "prometheus.yml").write_text(
        "global: {evaluation_interval: 1s}\nscrape_configs: []\nrule_files: [live_rules.yml]\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        prometheus,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if web_config is not None:
        (workdir / "web.yml").write_text(web_config)
        command.append(f"--web.config.file={workdir / 'web.yml'}")
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "prometheus.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Prometheus did not become ready on {url}:\n{tail}", pytrace=False)
            time.sleep(0.05)
        yield PrometheusServer(url, process.pid, history, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _answers(url: str) -> bool:
    """Ready: /-/ready says 200, or 401 when basic auth guards every path."""
    try:
        urllib.request.urlopen(url + "/-/ready", timeout=1).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def prometheus_history() -> History:
    """The history every test queries; fixed for the whole session."""
    return make_history()


@pytest.fixture(scope="session")
def prometheus_server(
    tmp_path_factory: pytest.TempPathFactory, prometheus_history: History
) -> Iterator[PrometheusServer]:
    """One real Prometheus for the session, holding ``prometheus_history``."""
    workdir = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(workdir, prometheus_history) as server:
        yield server


# --------------------------------------------------------------------------- fault injection


class Reply(NamedTuple):
    """What the fault server answers: status, body, content type, a delay first, extra headers."""

    status: int
    body: str
    content_type: str = "application/json"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class Seen(NamedTuple):
    """One request the fault server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: str


class FaultServer(NamedTuple):
    url: str
    seen: list[Seen]


@contextmanager
def fault_server(*replies: Reply) -> Iterator[FaultServer]:
    """A tiny HTTP server on 127.0.0.1 answering ``replies`` in order (the last repeats).

    Only for failures a real Prometheus will not produce on demand (slowness, 5xx,
    broken JSON); correct behaviour is proven against the real server.
    """
    seen: list[Seen] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            with lock:
                seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                reply = replies[min(len(seen), len(replies)) - 1]
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout test); nothing to tell it

        do_GET = answer
        do_POST = answer

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield FaultServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

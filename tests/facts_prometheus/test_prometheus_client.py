"""The Prometheus HTTP client: answers, errors, retries, timeouts and credentials."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from engine.facts.prometheus import PrometheusClient, PrometheusError
from engine.times import parse_duration
from tests.helpers.prometheus import (
    INSTALL_HINT,
    PrometheusServer,
    Reply,
    fault_server,
    free_port,
    running_prometheus,
)

# bcrypt (cost 4) of "s3cret", made once with crypt.crypt(..., METHOD_BLOWFISH): Prometheus
# stores basic-auth passwords only as bcrypt hashes.
S3CRET_BCRYPT = "$2b$04$nr7VBQmWG5kxqFWF.xc1tOqkRIcdFbCE7WLyMHqgeseg2RDMQi2sm"

PROM_ERROR_503 = json.dumps({"status": "error", "errorType": "unavailable", "error": "Service Unavailable"})
VECTOR_OK = json.dumps(
    {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.5"]}]},
    }
)


def fast(url: str, *, read_timeout: float = 5.0, token_env: str | None = None) -> PrometheusClient:
    """A client whose retries cost milliseconds, so failure tests stay quick."""
    return PrometheusClient(url, retries=2, backoff=0.01, read_timeout=read_timeout, token_env=token_env)


def test_instant_query_reads_values_at_the_explicit_time(
    prometheus_server: PrometheusServer,
) -> None:
    history = prometheus_server.history
    result = PrometheusClient(prometheus_server.url).query('errors_total{service="good"}', at=history.end)
    assert result.result_type == "vector"
    [series] = result.series
    assert dict(series.labels) == {"__name__": "errors_total", "service": "good"}
    # 1 error per 15 s step since the start: 481 steps, values are strings on the wire.
    assert series.samples[0].value == 481.0
    assert series.samples[0].timestamp == history.end


def test_instant_query_keeps_nan_and_infinity_as_floats(
    prometheus_server: PrometheusServer,
) -> None:
    result = PrometheusClient(prometheus_server.url).query("model_accuracy", at=prometheus_server.history.end)
    values = {dict(s.labels)["model"]: s.samples[0].value for s in result.series}
    assert values["ok"] == 0.9
    assert math.isnan(values["nan"])
    assert values["inf"] == math.inf


def test_range_query_returns_one_sample_per_step(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    result = PrometheusClient(prometheus_server.url).query_range(
        'gpu_utilization{node="solid"}', start=history.at(300), end=history.end, step=60
    )
    assert result.result_type == "matrix"
    [series] = result.series
    assert [s.timestamp for s in series.samples] == [history.end - 300 + 60 * i for i in range(6)]


def test_scalar_result_is_one_unlabelled_series(prometheus_server: PrometheusServer) -> None:
    result = PrometheusClient(prometheus_server.url).query("1.5", at=prometheus_server.history.end)
    assert result.result_type == "scalar"
    assert result.series[0].labels == ()
    assert result.series[0].samples[0].value == 1.5


def test_no_data_is_an_empty_vector_not_an_error(prometheus_server: PrometheusServer) -> None:
    result = PrometheusClient(prometheus_server.url).query(
        'errors_total{service="absent"}', at=prometheus_server.history.end
    )
    assert result.result_type == "vector"
    assert result.series == ()


def test_syntax_error_is_bad_query_with_prometheus_message(
    prometheus_server: PrometheusServer,
) -> None:
    with pytest.raises(PrometheusError) as caught:
        PrometheusClient(prometheus_server.url).query("sum(rate(errors_total[5m])", at=prometheus_server.history.end)
    assert caught.value.kind == "bad_query"
    assert "unclosed left parenthesis" in caught.value.message
    assert "HTTP 400" in caught.value.message


def test_too_many_points_is_bad_query(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    with pytest.raises(PrometheusError) as caught:
        PrometheusClient(prometheus_server.url).query_range("vector(1)", start=history.start, end=history.end, step=0.1)
    assert caught.value.kind == "bad_query"
    assert "11,000 points" in caught.value.message


def test_unknown_path_is_plain_text_404_with_a_url_hint(
    prometheus_server: PrometheusServer,
) -> None:
    client = PrometheusClient(prometheus_server.url + "/prometheus", retries=0)
    with pytest.raises(PrometheusError) as caught:
        client.query("vector(1)", at=prometheus_server.history.end)
    assert caught.value.kind == "http"
    assert "HTTP 404" in caught.value.message
    assert "page not found" in caught.value.message
    assert "server root" in caught.value.message


def test_alerts_lists_the_servers_live_alerts_with_state(
    prometheus_server: PrometheusServer,
) -> None:
    client = PrometheusClient(prometheus_server.url)
    deadline = time.monotonic() + 15
    states: dict[str, str] = {}
    while time.monotonic() < deadline and len(states) < 2:
        states = {alert.name: alert.state for alert in client.alerts()}
        time.sleep(0.1)
    assert states == {"LiveAlwaysFiring": "firing", "LiveAlwaysPending": "pending"}


def test_connection_refused_is_unreachable_after_retries() -> None:
    client = fast(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PrometheusError) as caught:
        client.query("vector(1)", at=1_700_000_000)
    assert caught.value.kind == "unreachable"
    assert "Connection refused" in caught.value.message
    assert "3 attempts" in caught.value.message


def test_slow_server_is_timeout_and_not_retried() -> None:
    with fault_server(Reply(200, VECTOR_OK, delay=1.5)) as server:
        client = fast(server.url, read_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(PrometheusError) as caught:
            client.query("vector(1)", at=1_700_000_000)
        elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert "0.3s" in caught.value.message
    assert len(server.seen) == 1
    assert elapsed < 1.2


def test_503_is_retried_then_reported_with_prometheus_error() -> None:
    with fault_server(Reply(503, PROM_ERROR_503)) as server:
        with pytest.raises(PrometheusError) as caught:
            fast(server.url).query("vector(1)", at=1_700_000_000)
    assert len(server.seen) == 3
    assert caught.value.kind == "http"
    assert "Service Unavailable" in caught.value.message
    assert "HTTP 503" in caught.value.message


def test_503_then_success_returns_the_answer() -> None:
    with fault_server(Reply(503, PROM_ERROR_503), Reply(200, VECTOR_OK)) as server:
        result = fast(server.url).query("vector(1)", at=1_700_000_000)
    assert len(server.seen) == 2
    assert result.series[0].samples[0].value == 0.5


def test_4xx_is_not_retried() -> None:
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with fault_server(Reply(400, body)) as server:
        with pytest.raises(PrometheusError) as caught:
            fast(server.url).query("(", at=1_700_000_000)
    assert len(server.seen) == 1
    assert caught.value.kind == "bad_query"


def test_malformed_json_is_reported_as_malformed() -> None:
    with fault_server(Reply(200, '{"status": "success", "data": {')) as server:
        with pytest.raises(PrometheusError) as caught:
            fast(server.url).query("vector(1)", at=1_700_000_000)
    assert caught.value.kind == "malformed"
    assert "not JSON" in caught.value.message


def test_json_of_the_wrong_shape_is_malformed() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{}]}})
    with fault_server(Reply(200, body)) as server:
        with pytest.raises(PrometheusError) as caught:
            fast(server.url).query("vector(1)", at=1_700_000_000)
    assert caught.value.kind == "malformed"


def test_query_is_posted_with_explicit_time() -> None:
    with fault_server(Reply(200, VECTOR_OK)) as server:
        fast(server.url).query("up", at=1_700_000_000.5)
    [request] = server.seen
    assert (request.method, request.path) == ("POST", "/api/v1/query")
    assert "time=1700000000.500" in request.body


def test_bearer_token_is_read_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "tok-123")
    with fault_server(Reply(200, VECTOR_OK)) as server:
        fast(server.url, token_env="PROM_TOKEN").query("up", at=1_700_000_000)
    assert server.seen[0].headers["Authorization"] == "Bearer tok-123"


def test_missing_token_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    with fault_server(Reply(200, VECTOR_OK)) as server:
        with pytest.raises(PrometheusError) as caught:
            fast(server.url, token_env="PROM_TOKEN").query("up", at=1_700_000_000)
    assert caught.value.kind == "config"
    assert "PROM_TOKEN" in caught.value.message
    assert server.seen == []


def test_basic_auth_against_a_real_protected_prometheus(
    tmp_path: Path, prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = f"basic_auth_users:\n  ci: '{S3CRET_BCRYPT}'\n"
    with running_prometheus(tmp_path, prometheus_server.history, web_config=web) as guarded:
        monkeypatch.setenv("PROM_USER", "ci")
        monkeypatch.setenv("PROM_PASS", "s3cret")
        good = PrometheusClient(guarded.url, username_env="PROM_USER", password_env="PROM_PASS")
        assert good.query("vector(1)", at=guarded.history.end).series[0].samples[0].value == 1
        monkeypatch.setenv("PROM_PASS", "wrong")
        with pytest.raises(PrometheusError) as caught:
            good.query("vector(1)", at=guarded.history.end)
    assert caught.value.kind == "http"
    assert "HTTP 401" in caught.value.message
    assert "credentials" in caught.value.message
    assert "wrong" not in caught.value.message


def test_missing_prometheus_fails_naming_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prometheus_server: PrometheusServer
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(pytest.fail.Exception) as caught:
        with running_prometheus(tmp_path / "p", prometheus_server.history):
            pass
    assert "scripts/ensure-prometheus" in str(caught.value)
    assert INSTALL_HINT in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("30s", 30.0), ("1d", 86400.0), ("500ms", 0.5)],
)
def test_durations_are_read_like_prometheus(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m5", "1m1h"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(text)

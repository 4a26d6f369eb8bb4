"""Threshold semantics, proven against a real Prometheus holding known history."""

from __future__ import annotations

import json
import math

import pytest

from engine.facts.prometheus import PrometheusClient, QueryResult, Sample, Series
from engine.rules.threshold_verdicts import Condition, evaluate_threshold, judge_instant, judge_range
from tests.helpers.prometheus import PrometheusServer, Reply, fault_server, free_port

RATIO = (
    'sum by (service) (rate(errors_total{{service=~"{0}"}}[5m]))'
    ' / sum by (service) (rate(requests_total{{service=~"{0}"}}[5m]))'
)


def client(server: PrometheusServer) -> PrometheusClient:
    return PrometheusClient(server.url)


def test_healthy_service_passes(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        RATIO.format("good"),
        below=0.05,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "pass"
    [series] = result.series
    assert series.value == pytest.approx(0.01)
    assert not series.violated
    assert "below 0.05" in result.required


def test_unhealthy_service_fails_and_is_named(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server), RATIO.format("bad"), below=0.05, at=prometheus_server.history.end
    )
    assert result.verdict == "fail"
    [failing] = result.failing
    assert dict(failing.labels) == {"service": "bad"}
    assert failing.value == pytest.approx(0.1)
    assert '{service="bad"}: 0.1 is not below 0.05' in result.message


def test_every_series_must_hold_and_only_the_bad_one_is_listed(
    prometheus_server: PrometheusServer,
) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        RATIO.format("good|bad"),
        below=0.05,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "fail"
    assert {dict(s.labels)["service"]: s.violated for s in result.series} == {
        "good": False,
        "bad": True,
    }
    assert [dict(s.labels) for s in result.failing] == [{"service": "bad"}]
    assert "1 of 2 series violate" in result.message


def test_for_window_fails_when_one_step_violates(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    query = 'max by (service) (latency_p99_seconds{service="spiky"})'
    # Right now the latency is fine: an instant check passes ...
    instant = evaluate_threshold(client(prometheus_server), query, below=1, at=history.end)
    assert instant.verdict == "pass"
    # ... but 10 minutes ago it spiked to 2 s for one minute, inside a 15m `for` window.
    windowed = evaluate_threshold(client(prometheus_server), query, below=1, for_=900, step=60, at=history.end)
    assert windowed.verdict == "fail"
    [failing] = windowed.failing
    assert failing.value == 2.0
    assert failing.timestamp == history.end - 600
    assert "2 is not below 1" in failing.reason
    assert "every 1m step of the 15m window" in windowed.required


def test_for_window_passes_when_every_step_holds(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    result = evaluate_threshold(
        client(prometheus_server),
        'latency_p99_seconds{service="spiky"}',
        below=1,
        for_=300,  # the spike ended 9 minutes ago
        at=history.end,
    )
    assert result.verdict == "pass"
    assert result.step == 15


def test_empty_result_is_no_data(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        'errors_total{service="absent"}',
        below=1,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "no_data"
    assert result.series == ()
    assert "no series" in result.message


def test_empty_window_is_no_data(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    result = evaluate_threshold(client(prometheus_server), "errors_total", below=1, for_=600, at=history.start - 3600)
    assert result.verdict == "no_data"


def test_nan_violates_and_says_why(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        'model_accuracy{model=~"ok|nan"}',
        above=0.5,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "fail"
    [failing] = result.failing
    assert dict(failing.labels)["model"] == "nan"
    assert math.isnan(failing.value)
    assert "NaN, which cannot show it is above 0.5" in failing.reason


def test_infinity_violates_even_an_above_condition(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        'model_accuracy{model="inf"}',
        above=0.5,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "fail"
    assert "+inf" in result.failing[0].reason


def test_zero_over_zero_is_nan_and_fails(prometheus_server: PrometheusServer) -> None:
    # An error ratio with no traffic is 0/0: it proves nothing about the error rate.
    result = evaluate_threshold(
        client(prometheus_server),
        'sum(rate(errors_total{service="good"}[5m])) * 0 / 0',
        below=0.05,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "fail"
    assert "NaN" in result.failing[0].reason


def test_gaps_in_the_window_are_not_proven(prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    result = evaluate_threshold(
        client(prometheus_server),
        "gpu_utilization",
        below=0.9,
        for_=2700,
        step=60,
        at=history.end,
    )
    assert result.verdict == "fail"
    by_node = {dict(s.labels)["node"]: s for s in result.series}
    assert not by_node["solid"].violated
    gappy = by_node["gappy"]
    assert gappy.violated
    # No samples in (end-40m, end-20m); the 5m lookback stretches end-40m's sample to
    # end-35m, so the steps end-34m .. end-21m (14 of the 46 in 45m) have no value.
    assert gappy.missing_steps == 14
    assert "no value at 14 of 46 steps" in gappy.reason
    assert "not proven" in gappy.reason


def test_between_is_inclusive_at_both_ends(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        'model_accuracy{model="ok"}',
        between=(0.9, 1.0),
        at=prometheus_server.history.end,
    )
    assert result.verdict == "pass"


def test_scalar_results_are_judged(prometheus_server: PrometheusServer) -> None:
    query = 'scalar(sum(rate(errors_total{service="bad"}[5m])))'  # 10 per 15 s
    at = prometheus_server.history.end
    passing = evaluate_threshold(client(prometheus_server), query, below=1, at=at)
    failing = evaluate_threshold(client(prometheus_server), query, below=0.5, at=at)
    assert passing.verdict == "pass"
    assert passing.series[0].labels == ()
    assert passing.series[0].value == pytest.approx(10 / 15)
    assert failing.verdict == "fail"


def test_syntax_error_is_an_error_verdict_with_prometheus_message(
    prometheus_server: PrometheusServer,
) -> None:
    result = evaluate_threshold(
        client(prometheus_server),
        "sum(rate(errors_total[5m])",
        below=1,
        at=prometheus_server.history.end,
    )
    assert result.verdict == "error"
    assert result.error_kind == "bad_query"
    assert "unclosed left parenthesis" in result.message


def test_range_vector_from_an_instant_query_is_an_error(
    prometheus_server: PrometheusServer,
) -> None:
    result = evaluate_threshold(
        client(prometheus_server), "errors_total[5m]", below=1, at=prometheus_server.history.end
    )
    assert result.verdict == "error"
    assert result.error_kind == "bad_query"
    assert "range vector" in result.message


def test_string_result_is_an_error(prometheus_server: PrometheusServer) -> None:
    result = evaluate_threshold(client(prometheus_server), '"hello"', below=1, at=prometheus_server.history.end)
    assert result.verdict == "error"
    assert "returns a string ('hello')" in result.message


def test_server_down_is_an_unreachable_error_verdict() -> None:
    down = PrometheusClient(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    result = evaluate_threshold(down, "up", below=1, at=1_700_000_000)
    assert result.verdict == "error"
    assert result.error_kind == "unreachable"


def test_slow_server_is_a_timeout_error_verdict() -> None:
    with fault_server(Reply(200, "{}", delay=1.0)) as server:
        slow = PrometheusClient(server.url, read_timeout=0.2)
        result = evaluate_threshold(slow, "up", below=1, for_=300, at=1_700_000_000)
    assert result.verdict == "error"
    assert result.error_kind == "timeout"


def test_5xx_is_an_error_verdict_after_retries() -> None:
    body = json.dumps({"status": "error", "errorType": "timeout", "error": "query timed out"})
    with fault_server(Reply(503, body)) as server:
        flaky = PrometheusClient(server.url, retries=2, backoff=0.01)
        result = evaluate_threshold(flaky, "up", below=1, at=1_700_000_000)
    assert len(server.seen) == 3
    assert result.verdict == "error"
    assert result.error_kind == "timeout"
    assert "query timed out" in result.message


def test_malformed_answer_is_an_error_verdict() -> None:
    with fault_server(Reply(200, "<html>login</html>", "text/html")) as server:
        result = evaluate_threshold(PrometheusClient(server.url), "up", below=1, at=1)
    assert result.verdict == "error"
    assert result.error_kind == "malformed"


def test_a_condition_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="at least one of below, above or between"):
        Condition()


# Pure judging, on hand-written answers: the same functions the server tests exercise.


def test_judge_range_counts_a_series_that_starts_late_as_missing_steps() -> None:
    late = Series((("job", "new"),), (Sample(120.0, 0.1), Sample(180.0, 0.1)))
    full = Series((("job", "old"),), tuple(Sample(float(t), 0.1) for t in range(0, 181, 60)))
    result = judge_range(
        QueryResult("matrix", (late, full)),
        Condition(below=1),
        query="q",
        at=180,
        for_=180,
        step=60,
    )
    assert result.verdict == "fail"
    assert [s.missing_steps for s in result.series] == [2, 0]
    assert [dict(s.labels)["job"] for s in result.failing] == ["new"]


def test_judge_instant_reports_the_required_condition() -> None:
    answer = QueryResult("vector", (Series((), (Sample(10.0, -math.inf),)),))
    result = judge_instant(answer, Condition(above=0, below=5), query="q", at=10)
    assert result.verdict == "fail"
    assert "above 0 and below 5" in result.required
    assert "-inf" in result.failing[0].reason

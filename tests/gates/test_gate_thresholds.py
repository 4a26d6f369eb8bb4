"""`require: {threshold: ...}` judged by the real `policy check` against a real Prometheus.

History is backfilled (tests/helpers/prometheus.py), so every check pins `--now` inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gates.gates_support import Checked, Repo, write_policy
from tests.helpers.prometheus import PrometheusServer, Reply, fault_server, free_port
from tests.helpers.repos import policy_cli

RATIO = ('sum by (service) (rate(errors_total{{service=~"{0}"}}[5m]))'
         ' / sum by (service) (rate(requests_total{{service=~"{0}"}}[5m]))')


def threshold_policy(url: str, rule: str, *, timeout: str = "5s") -> str:
    return f"""
version: 1
name: gates
sources:
  prometheus: {{url: "{url}", timeout: {timeout}}}
rules:
  - id: error-budget
{rule}
"""


def judge(tmp_path: Path, url: str, rule: str, *, now: float, stage: str = "merge", timeout: str = "5s") -> Checked:
    repo = Repo(tmp_path)
    policy = write_policy(tmp_path, threshold_policy(url, rule, timeout=timeout))
    return repo.check(policy=policy, stage=stage, now=now)


def rule(query: str, extra: str = "") -> str:
    return f"    require:\n      threshold: {{query: {json.dumps(query)}{', ' + extra if extra else ''}}}\n"


def test_healthy_service_passes_at_merge_and_lists_the_series(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    checked = judge(tmp_path, prometheus_server.url, rule(RATIO.format("good"), "below: 0.05, for: 5m"),
                    now=prometheus_server.history.end)
    assert checked.code == 0, checked.proc.stdout
    outcome = checked["error-budget"]
    assert outcome["status"] == "pass"
    assert any('{service="good"} = 0.01' in line for line in outcome["seen"])
    assert "below 0.05 at every 15s step of the 5m window" in outcome["required"]


def test_unhealthy_service_denies_a_deploy_naming_the_series_and_value(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    checked = judge(tmp_path, prometheus_server.url, rule(RATIO.format("good|bad"), "below: 0.05"),
                    now=prometheus_server.history.end, stage="deploy")
    assert checked.code == 1
    outcome = checked["error-budget"]
    assert outcome["status"] == "fail"
    assert "1 of 2 series violate" in outcome["message"]
    assert outcome["seen"][0].startswith('{service="bad"}: 0.1 is not below 0.05')
    assert any(line.startswith('{service="good"} = 0.01') and "holds" in line for line in outcome["seen"])
    assert outcome["fix"]


def test_for_window_denies_a_spike_the_instant_query_misses(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    query = 'max by (service) (latency_p99_seconds{service="spiky"})'
    end = prometheus_server.history.end
    instant = judge(tmp_path / "a", prometheus_server.url, rule(query, "below: 1"), now=end)
    window = judge(tmp_path / "b", prometheus_server.url, rule(query, "below: 1, for: 15m"), now=end)
    assert instant["error-budget"]["status"] == "pass"
    assert window.code == 1
    assert "2 is not below 1" in window["error-budget"]["seen"][0]


def test_nan_is_a_violation_that_says_why(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    checked = judge(tmp_path, prometheus_server.url, rule('model_accuracy{model=~"ok|nan"}', "above: 0.5"),
                    now=prometheus_server.history.end)
    assert checked.code == 1
    [failing] = [s for s in checked["error-budget"]["seen"] if "nan" in s.lower() and "violate" not in s]
    assert 'model="nan"' in failing and "the value is NaN" in failing


@pytest.mark.parametrize(("on_no_data", "status", "code"),
                         [(None, "fail", 1), ("deny", "fail", 1), ("warn", "warn", 0), ("allow", "pass", 0)])
def test_empty_result_follows_on_no_data(tmp_path: Path, prometheus_server: PrometheusServer,
                                         on_no_data: str | None, status: str, code: int) -> None:
    extra = "below: 1" + (f", on_no_data: {on_no_data}" if on_no_data else "")
    checked = judge(tmp_path, prometheus_server.url, rule('errors_total{service="nobody"}', extra),
                    now=prometheus_server.history.end)
    assert (checked["error-budget"]["status"], checked.code) == (status, code)
    assert "no series" in checked["error-budget"]["message"]


@pytest.mark.parametrize(("on_error", "status", "code"),
                         [(None, "error", 1), ("warn", "warn", 0), ("allow", "pass", 0)])
def test_query_syntax_error_follows_on_error_with_prometheus_message(
        tmp_path: Path, prometheus_server: PrometheusServer, on_error: str | None, status: str, code: int) -> None:
    extra = "below: 1" + (f", on_error: {on_error}" if on_error else "")
    checked = judge(tmp_path, prometheus_server.url, rule("sum(errors_total", extra),
                    now=prometheus_server.history.end)
    outcome = checked["error-budget"]
    assert (outcome["status"], checked.code) == (status, code)
    assert "bad_query" in outcome["message"] and "unclosed left parenthesis" in outcome["message"]


def test_server_down_denies_by_default(tmp_path: Path) -> None:
    checked = judge(tmp_path, f"http://127.0.0.1:{free_port()}", rule("up", "below: 1"), now=1_700_000_000)
    assert checked.code == 1
    assert checked["error-budget"]["status"] == "error"
    assert "cannot connect to Prometheus" in checked["error-budget"]["message"]


def test_slow_server_times_out_after_the_source_timeout(tmp_path: Path) -> None:
    with fault_server(Reply(200, '{"status":"success","data":{"resultType":"vector","result":[]}}',
                            delay=3)) as server:
        checked = judge(tmp_path, server.url, rule("up", "below: 1"), now=1_700_000_000, timeout="1s")
    assert checked.code == 1
    assert "(timeout)" in checked["error-budget"]["message"]
    assert "did not answer within 1s" in checked["error-budget"]["message"]


def test_http_5xx_is_an_error_after_retries(tmp_path: Path) -> None:
    body = '{"status":"error","errorType":"internal","error":"storage is sick"}'
    with fault_server(Reply(500, body)) as server:
        checked = judge(tmp_path, server.url, rule("up", "below: 1"), now=1_700_000_000)
    assert checked.code == 1
    assert "storage is sick" in checked["error-budget"]["message"]
    assert len(server.seen) == 3  # the first try and two retries


def test_malformed_json_is_an_error(tmp_path: Path) -> None:
    with fault_server(Reply(200, '{"status": "success", "data": ')) as server:
        checked = judge(tmp_path, server.url, rule("up", "below: 1"), now=1_700_000_000)
    assert checked.code == 1
    assert "(malformed)" in checked["error-budget"]["message"]


def test_query_is_asked_at_the_decisions_time_not_the_servers_clock(tmp_path: Path) -> None:
    with fault_server(Reply(200, '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0"]}}'
                            )) as server:
        checked = judge(tmp_path, server.url, rule("vector(0)", "below: 1"), now=1_700_000_000)
    assert checked.code == 0
    assert "time=1700000000.000" in server.seen[0].body


def test_evaluate_mode_reports_a_violation_without_denying(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    checked = judge(tmp_path, prometheus_server.url,
                    rule(RATIO.format("bad"), "below: 0.05") + "    enforcement: evaluate\n",
                    now=prometheus_server.history.end)
    assert checked.code == 0
    assert checked["error-budget"]["status"] == "warn"


def test_threshold_is_not_judged_at_a_stage_it_is_not_on(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    checked = judge(tmp_path, f"http://127.0.0.1:{free_port()}",
                    "    on: [deploy]\n" + rule("up", "below: 1"), now=1_700_000_000, stage="merge")
    assert checked.code == 0
    assert checked["error-budget"]["status"] == "skip"


def test_validate_rejects_a_threshold_on_push_with_the_reason(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, threshold_policy("http://127.0.0.1:9090",
                                                     "    on: [push, merge]\n" + rule("up", "below: 1")))
    proc = policy_cli("validate", str(policy))
    assert proc.returncode == 2
    assert "a threshold rule cannot run on push" in proc.stderr + proc.stdout
    assert "never calls external services" in proc.stderr + proc.stdout


def test_validate_requires_the_prometheus_source(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "version: 1\nrules:\n  - id: error-budget\n" + rule("up", "below: 1"))
    proc = policy_cli("validate", str(policy))
    assert proc.returncode == 2
    assert "sources.prometheus is not configured" in proc.stderr + proc.stdout

"""`policy rollback-check`: a CD pipeline's keep-or-roll-back after a deploy, against real Prometheus.

Exit codes: 0 keep, 1 roll back, 2 invalid policy or usage, 3 error. `--now` replays the
backfilled history (measurement k at now + k * interval, without waiting).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.gates.gates_support import write_policy
from tests.helpers.prometheus import PrometheusServer, free_port
from tests.helpers.repos import policy_cli

ROLLOUT = (Path(__file__).parent.parent / "facts_prometheus" / "rollout_alerts.yml").read_text()
BAD_1M = ('sum(rate(errors_total{service="bad"}[1m])) / sum(rate(requests_total{service="bad"}[1m]))')


def canary_policy(url: str, query: str = BAD_1M, extra: str = "", *, more: str = "") -> str:
    return f"""
version: 1
name: canary
sources:
  prometheus: {{url: "{url}", timeout: 2s}}
rules:
  - id: canary-errors
    on: [deploy]
    require:
      threshold: {{query: {json.dumps(query)}, below: 0.05{', ' + extra if extra else ''}}}
{more}"""


def run(policy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return policy_cli("rollback-check", "--policy", str(policy), *args)


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_healthy_deploy_is_kept_with_exit_0(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url))
    proc = run(policy, "--now", str(prometheus_server.history.at(65 * 60)), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    measurement, decision = lines(proc)
    assert measurement["type"] == "measurement" and measurement["failed"] is False
    assert measurement["outcomes"][0]["status"] == "pass"
    assert decision == {**decision, "type": "decision", "decision": "keep", "exit_code": 0, "measurements": 1}


def test_failing_threshold_rolls_back_with_exit_1_and_names_the_value(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url))
    proc = run(policy, "--now", str(prometheus_server.history.end))
    assert proc.returncode == 1
    assert "[FAIL] canary-errors" in proc.stdout
    assert "0.1 is not below 0.05" in proc.stdout
    assert proc.stdout.rstrip().endswith("roll back")


def test_watch_replays_history_and_rolls_back_at_the_failure_limit(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    """The bad service's error rate rises 60 minutes before the end of the history."""
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url))
    proc = run(policy, "--watch", "--interval", "1m", "--count", "10", "--failure-limit", "2",
               "--now", str(prometheus_server.history.at(65 * 60)), "--format", "json")
    assert proc.returncode == 1
    *measurements, decision = lines(proc)
    assert [m["failed"] for m in measurements] == [False] * 6 + [True, True]  # stops at the 2nd failure
    assert [m["time"] for m in measurements] == [prometheus_server.history.at(65 * 60) + 60 * k for k in range(8)]
    assert decision["decision"] == "rollback" and decision["failures"] == 2 and decision["measurements"] == 8


def test_watch_keeps_when_failures_stay_below_the_limit(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url))
    proc = run(policy, "--watch", "--interval", "1m", "--count", "7", "--failure-limit", "2",
               "--now", str(prometheus_server.history.at(65 * 60)), "--format", "json")
    assert proc.returncode == 0
    *measurements, decision = lines(proc)
    assert len(measurements) == 7 and decision["failures"] == 1 and decision["decision"] == "keep"


def test_unreachable_prometheus_rolls_back_under_on_error_deny(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, canary_policy(f"http://127.0.0.1:{free_port()}"))
    proc = run(policy, "--now", "1700000000")
    assert proc.returncode == 1
    assert "[ERROR] canary-errors" in proc.stdout and "cannot connect to Prometheus" in proc.stdout


def test_unreachable_prometheus_keeps_with_a_warning_under_on_error_warn(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, canary_policy(f"http://127.0.0.1:{free_port()}", extra="on_error: warn"))
    proc = run(policy, "--now", "1700000000")
    assert proc.returncode == 0
    assert "[WARN] canary-errors" in proc.stdout


def test_alerts_rule_beside_the_policy_rolls_back_while_it_fires(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    (tmp_path / "rollout_alerts.yml").write_text(ROLLOUT)
    more = "  - id: rollout-alerts\n    on: [deploy]\n    require:\n      alerts: {rules_file: rollout_alerts.yml}\n"
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url, 'vector(0)', more=more))
    quiet = run(policy, "--now", str(prometheus_server.history.at(90 * 60)), "--format", "json")
    firing = run(policy, "--now", str(prometheus_server.history.end), "--format", "json")
    assert quiet.returncode == 0
    assert firing.returncode == 1
    outcomes = {o["rule"]: o for o in lines(firing)[0]["outcomes"]}
    assert outcomes["canary-errors"]["status"] == "pass"
    assert outcomes["rollout-alerts"]["seen"][0].startswith('RolloutErrorRateHigh{service="bad", severity="page"}')


def test_only_deploy_rules_are_judged_and_ref_filters_rules_with_refs(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    more = ("  - id: merge-only\n    on: [merge]\n    require:\n      threshold: {query: 'vector(1)', below: 0}\n"
            "  - id: prod-only\n    on: [deploy]\n    refs: [refs/heads/prod]\n"
            "    require:\n      threshold: {query: 'vector(1)', below: 0}\n")
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url, "vector(0)", more=more))
    now = str(prometheus_server.history.end)
    staging = run(policy, "--now", now, "--ref", "refs/heads/staging", "--format", "json")
    prod = run(policy, "--now", now, "--ref", "refs/heads/prod", "--format", "json")
    assert staging.returncode == 0
    assert [o["rule"] for o in lines(staging)[0]["outcomes"]] == ["canary-errors"]
    assert prod.returncode == 1
    assert [o["rule"] for o in lines(prod)[0]["outcomes"]] == ["canary-errors", "prod-only"]


def test_policy_without_deploy_gates_is_a_usage_error(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "version: 1\nrules:\n  - id: w\n    deny_paths: ['*.gguf']\n")
    proc = run(policy)
    assert proc.returncode == 2
    assert "no threshold or alerts rule judged at stage deploy" in proc.stderr


def test_invalid_policy_exits_2_with_the_position(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "version: 1\nrules:\n  - id: x\n    require: {threshold: {query: up}}\n")
    proc = run(policy)
    assert proc.returncode == 2
    assert "policy.yml:4:" in proc.stderr


def test_count_without_watch_is_a_usage_error(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, canary_policy("http://127.0.0.1:9"))
    proc = run(policy, "--count", "3")
    assert proc.returncode == 2
    assert "only with --watch" in proc.stderr


def test_live_watch_prints_each_measurement_as_it_is_taken(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    policy = write_policy(tmp_path, canary_policy(prometheus_server.url, "vector(0)"))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "rollback-check", "--policy", str(policy), "--watch",
                             "--interval", "2s", "--count", "3", "--format", "json"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert proc.poll() is None, "the first measurement must be printed before the watch ends"
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started >= 4  # two intervals waited between three measurements
    times = [first["time"], *(m["time"] for m in rest[:-1])]
    assert len(times) == 3 and all(b - a >= 2 for a, b in itertools.pairwise(times))
    assert abs(first["time"] - time.time()) < 60  # live: the wall clock, not a pinned time
    assert rest[-1]["decision"] == "keep"

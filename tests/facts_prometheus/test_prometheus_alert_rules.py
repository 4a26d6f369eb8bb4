"""Alerting-rules files: parsing with positions, and whether their alerts (would) fire."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Literal

import pytest

from engine.facts.alert_rules import RulesFileError, load_rules, parse_rules
from engine.facts.prometheus import Labels, PrometheusClient
from engine.rules.alert_verdicts import AlertsResult, firing_alerts
from tests.helpers.prometheus import (
    History,
    PrometheusServer,
    free_port,
    promtool_values,
    require_tool,
)

ROLLOUT = Path(__file__).with_name("rollout_alerts.yml")


def client(server: PrometheusServer) -> PrometheusClient:
    return PrometheusClient(server.url)


def judged(
    server: PrometheusServer,
    seconds_before_end: float,
    deny_when: Literal["firing", "pending"] = "firing",
) -> AlertsResult:
    """The rollout rules judged ``seconds_before_end`` before the end of the history."""
    at = server.history.at(seconds_before_end)
    return firing_alerts(client(server), load_rules(ROLLOUT), at=at, deny_when=deny_when)


def denied_services(result: AlertsResult) -> dict[str, str]:
    return {dict(item.labels)["service"]: item.state for item in result.denying}


# --------------------------------------------------------------------------- parsing


def test_rules_file_yields_its_alerts_and_skips_recording_rules() -> None:
    rules = load_rules(ROLLOUT)
    assert rules.recording_rules == 1
    [rule] = rules.alerts
    assert rule.name == "RolloutErrorRateHigh"
    assert rule.for_ == 300
    assert rule.group == "rollout"
    assert rule.interval is None
    assert dict(rule.labels) == {"severity": "page"}
    assert rule.expr.endswith("> 0.05")
    assert rule.source == f"{ROLLOUT}:7"


def test_group_interval_is_kept_as_the_evaluation_step() -> None:
    text = "groups:\n- name: g\n  interval: 30s\n  rules:\n  - alert: A\n    expr: up == 0\n"
    assert parse_rules(text).alerts[0].interval == 30


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("", "1:1", "the file is empty"),
        ("groups: [\n", "2:1", "not valid YAML"),
        ("groupz: []\n", "1:1", "unknown key 'groupz'"),
        ("groups:\n  name: g\n", "2:3", "`groups` must be a list"),
        ("groups:\n- rules: []\n", "2:3", "a group needs a `name:`"),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    for: 5m\n",
            "4:5",
            "a rule needs an `expr:`",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n",
            "6:10",
            "'5 minutes' is not a Prometheus duration",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    record: r\n    expr: up\n",
            "4:5",
            "exactly one of `alert:` or `record:`",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    exprs: up\n",
            "5:5",
            "unknown key 'exprs'",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    expr: down\n",
            "6:5",
            "duplicate key 'expr'",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: High Errors\n    expr: up\n",
            "4:12",
            "not a valid metric name",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: [a]\n",
            "6:13",
            "`labels` must be a mapping",
        ),
        (
            "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
            "4:9",
            "group name 'g' is used twice",
        ),
    ],
)
def test_malformed_rules_files_name_the_line(text: str, where: str, says: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, source="rollout_alerts.yml")
    assert str(caught.value).startswith(f"rollout_alerts.yml:{where}: ")
    assert says in str(caught.value)


def test_unreadable_rules_file_is_a_rules_file_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read the rules file"):
        load_rules(tmp_path / "missing.yml")


# --------------------------------------------------------------------------- evaluation


def test_alert_would_fire_for_the_bad_service_only(prometheus_server: PrometheusServer) -> None:
    result = judged(prometheus_server, 0)
    assert result.verdict == "fail"
    [alert] = result.denying
    assert alert.origin == "evaluated"
    assert alert.state == "firing"
    assert dict(alert.labels) == {
        "alertname": "RolloutErrorRateHigh",
        "service": "bad",
        "severity": "page",
    }
    assert "every 1m step of the 5m `for` window" in alert.detail
    assert "RolloutErrorRateHigh" in result.message


def test_a_short_burst_is_pending_not_firing(prometheus_server: PrometheusServer) -> None:
    # flaky has been above 5% for 3 minutes: less than the rule's `for: 5m`.
    firing_only = judged(prometheus_server, 0)
    with_pending = judged(prometheus_server, 0, deny_when="pending")
    assert denied_services(firing_only) == {"bad": "firing"}
    assert denied_services(with_pending) == {"bad": "firing", "flaky": "pending"}


def test_nothing_fires_before_the_error_rate_rose(prometheus_server: PrometheusServer) -> None:
    result = judged(prometheus_server, 90 * 60)
    assert result.verdict == "pass"
    assert result.denying == ()
    assert result.evaluations[0].pending == ()
    assert "none of 1 alert rule(s) fires" in result.message


def test_two_minutes_into_the_incident_the_alert_is_only_pending(
    prometheus_server: PrometheusServer,
) -> None:
    result = judged(prometheus_server, 58 * 60)
    assert result.verdict == "pass"
    [evaluation] = result.evaluations
    assert evaluation.firing == ()
    assert [dict(labels)["service"] for labels in evaluation.pending] == ["bad"]


def _promtool_test(
    tmp_path: Path, history: History, expectations: dict[float, tuple[Labels, ...]]
) -> subprocess.CompletedProcess[str]:
    """Run `promtool test rules` on the same series, expecting ``expectations``."""
    rule = load_rules(ROLLOUT).alerts[0]
    counters = [spec for spec in history.series if spec.name.endswith("_total")]
    cases = []
    for at, firing in expectations.items():
        exp_alerts = [
            {
                "exp_labels": {k: v for k, v in labels if k != "alertname"},
                "exp_annotations": dict(rule.annotations),
            }
            for labels in firing
        ]
        cases.append(
            {
                "eval_time": f"{int(at - history.start)}s",
                "alertname": rule.name,
                "exp_alerts": exp_alerts,
            }
        )
    test_file = {
        "rule_files": [str(ROLLOUT)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": spec.selector, "values": promtool_values(spec)} for spec in counters],
                "alert_rule_test": cases,
            }
        ],
    }
    path = tmp_path / "oracle_test.yml"
    path.write_text(json.dumps(test_file))  # JSON is YAML
    return subprocess.run(
        [require_tool("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_would_fire_agrees_with_promtool_test_rules(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    history = prometheus_server.history
    ours: dict[float, tuple[Labels, ...]] = {}
    for before in (0, 58 * 60, 90 * 60):  # firing for bad; only pending; quiet
        result = judged(prometheus_server, before)
        ours[history.at(before)] = result.evaluations[0].firing
    assert [len(firing) for firing in ours.values()] == [1, 0, 0]
    oracle = _promtool_test(tmp_path, history, ours)
    assert oracle.returncode == 0, oracle.stdout + oracle.stderr


def test_promtool_oracle_rejects_a_wrong_verdict(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    # The oracle can disagree: claiming nothing fires at the end of the history fails.
    history = prometheus_server.history
    oracle = _promtool_test(tmp_path, history, {float(history.end): ()})
    assert oracle.returncode != 0
    assert 'service="bad"' in oracle.stdout + oracle.stderr


def test_server_reports_firing_alerts_named_in_the_file(
    prometheus_server: PrometheusServer,
) -> None:
    rules = parse_rules(
        "groups:\n- name: live\n  rules:\n"
        "  - alert: LiveAlwaysFiring\n    expr: vector(1)\n"
        "  - alert: LiveAlwaysPending\n    expr: vector(1)\n    for: 1h\n",
        source="live.yml",
    )
    prom = client(prometheus_server)
    deadline = time.monotonic() + 15
    while len(prom.alerts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    firing = firing_alerts(prom, rules, evaluate=False)
    pending = firing_alerts(prom, rules, evaluate=False, deny_when="pending")
    assert [(a.alert, a.state, a.origin) for a in firing.denying] == [("LiveAlwaysFiring", "firing", "server")]
    assert sorted((a.alert, a.state) for a in pending.denying) == [
        ("LiveAlwaysFiring", "firing"),
        ("LiveAlwaysPending", "pending"),
    ]


def test_server_alerts_not_in_the_file_are_ignored(prometheus_server: PrometheusServer) -> None:
    # The server fires LiveAlwaysFiring, but the rollout file does not name it.
    result = firing_alerts(client(prometheus_server), load_rules(ROLLOUT), evaluate=False, deny_when="pending")
    assert result.verdict == "pass"
    assert result.server_alerts == ()


def test_a_rule_the_server_rejects_is_an_error_naming_the_rule(
    prometheus_server: PrometheusServer,
) -> None:
    rules = parse_rules(
        "groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: sum(up\n    for: 5m\n",
        source="broken.yml",
    )
    result = firing_alerts(client(prometheus_server), rules, at=prometheus_server.history.end, ask_server=False)
    assert result.verdict == "error"
    assert "Broken (broken.yml:4)" in result.message
    assert "unclosed left parenthesis" in result.message


def test_unreachable_server_is_an_error_not_a_pass() -> None:
    down = PrometheusClient(f"http://127.0.0.1:{free_port()}", retries=0)
    result = firing_alerts(down, load_rules(ROLLOUT), at=1_700_000_000)
    assert result.verdict == "error"
    assert len(result.errors) == 2  # the alerts list and the rule's evaluation
    assert all("cannot connect" in error for error in result.errors)


# --------------------------------------------------------------------------- as teams store them

KUBE_PROMETHEUS = Path(__file__).with_name("kube_prometheus_rules.yaml")


def as_prometheus_rule(text: str, name: str) -> str:
    body = "\n".join("  " + line if line else line for line in text.splitlines())
    return (f"apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: {name}\n"
            f"  namespace: ml\nspec:\n{body}\n")


def test_kube_prometheus_rule_resource_yields_its_alerts() -> None:
    rules = load_rules(KUBE_PROMETHEUS)
    assert [a.name for a in rules.alerts] == ["TargetDown", "Watchdog", "NodeNetworkInterfaceFlapping"]
    assert rules.recording_rules == 8
    assert rules.alerts[0].source == f"{KUBE_PROMETHEUS}:18"  # its `- alert:` line
    assert rules.alerts[0].for_ == 600


def test_multi_document_bundle_reads_every_rule_document_and_skips_other_resources() -> None:
    service_monitor = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: ml}\nspec: {}\n"
    text = "\n---\n".join([service_monitor, as_prometheus_rule(ROLLOUT.read_text(), "rollout"),
                           KUBE_PROMETHEUS.read_text()])
    rules = parse_rules(text, source="bundle.yaml")
    assert [a.name for a in rules.alerts] == [
        "RolloutErrorRateHigh", "TargetDown", "Watchdog", "NodeNetworkInterfaceFlapping"]
    assert rules.recording_rules == 9


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no rule groups"),
        ("apiVersion: example.com/v1\nkind: PrometheusRule\nspec: {groups: []}\n",
         "a PrometheusRule needs apiVersion monitoring.coreos.com/v1"),
        ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\n", "needs a `spec:`"),
        ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec: {rules: []}\n",
         "unknown key 'rules' in the PrometheusRule spec"),
    ],
)
def test_resources_that_hold_no_usable_rules_are_errors(text: str, says: str) -> None:
    with pytest.raises(RulesFileError, match=says):
        parse_rules(text, source="x.yaml")

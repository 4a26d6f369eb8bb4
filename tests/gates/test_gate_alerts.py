"""`require: {alerts: ...}`: a team's own alerting-rules file denies while its alerts fire.

The rules file is tests/facts_prometheus/rollout_alerts.yml (RolloutErrorRateHigh: error
ratio > 5% for 5m). In the backfilled history, service `bad` exceeds it for the last hour
and `flaky` for the last 3 minutes only (pending).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.gates.gates_support import Repo, write_policy
from tests.helpers.prometheus import PrometheusServer, free_port
from tests.helpers.repos import git

ROLLOUT = (Path(__file__).parent.parent / "facts_prometheus" / "rollout_alerts.yml").read_text()


def alerts_policy(url: str, extra: str = "", rules_file: str = "rollout_alerts.yml") -> str:
    return f"""
version: 1
name: gates
sources:
  prometheus: {{url: "{url}"}}
rules:
  - id: rollout-alerts
    require:
      alerts: {{rules_file: {rules_file}{', ' + extra if extra else ''}}}
"""


def setup(tmp_path: Path, url: str, extra: str = "", rules: str | None = ROLLOUT) -> tuple[Repo, Path]:
    repo = Repo(tmp_path)
    if rules is not None:
        (tmp_path / "rollout_alerts.yml").write_text(rules)
    return repo, write_policy(tmp_path, alerts_policy(url, extra))


def test_firing_alert_denies_a_deploy_naming_the_alert_and_labels(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    repo, policy = setup(tmp_path, prometheus_server.url)
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    assert checked.code == 1
    outcome = checked["rollout-alerts"]
    assert outcome["status"] == "fail"
    [seen] = outcome["seen"]
    assert seen.startswith('RolloutErrorRateHigh{service="bad", severity="page"} firing (evaluated)')
    assert "every 1m step of the 5m `for` window" in seen
    assert "not by the server's current alert list" in outcome["message"]


def test_quiet_history_passes(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    repo, policy = setup(tmp_path, prometheus_server.url)
    checked = repo.check(policy=policy, stage="merge", now=prometheus_server.history.at(90 * 60))
    assert checked.code == 0
    assert checked["rollout-alerts"]["status"] == "pass"
    assert "none of 1 alert rule(s) fires" in checked["rollout-alerts"]["message"]


def test_deny_when_pending_also_denies_an_alert_still_in_its_for_window(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    repo, policy = setup(tmp_path, prometheus_server.url, "deny_when: pending")
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    seen = checked["rollout-alerts"]["seen"]
    assert any('service="flaky"' in line and " pending " in line for line in seen)
    assert any('service="bad"' in line and " firing " in line for line in seen)


def test_server_reports_a_live_firing_alert_named_in_the_file(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    # The server loads LiveAlwaysFiring (tests/helpers/prometheus.py); judge at the live clock.
    live = "groups:\n- name: live\n  rules:\n  - alert: LiveAlwaysFiring\n    expr: vector(1)\n"
    repo, policy = setup(tmp_path, prometheus_server.url, rules=live)
    deadline = time.monotonic() + 15
    while True:
        checked = repo.check(policy=policy, stage="deploy")
        seen = checked["rollout-alerts"]["seen"]
        if any("reported by the server" in line for line in seen) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert checked.code == 1
    assert any(line.startswith("LiveAlwaysFiring{") and "firing (reported by the server)" in line for line in seen)


def test_missing_rules_file_is_an_error_that_denies(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    repo, policy = setup(tmp_path, prometheus_server.url, rules=None)
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    assert checked.code == 1
    outcome = checked["rollout-alerts"]
    assert outcome["status"] == "error"
    assert f"{tmp_path / 'rollout_alerts.yml'} does not exist" in outcome["message"]


def test_invalid_rules_file_names_the_line(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    bad = "groups:\n- name: g\n  rules:\n  - alert: A\n    for: 5m\n"
    repo, policy = setup(tmp_path, prometheus_server.url, "on_error: warn", rules=bad)
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    assert checked.code == 0
    outcome = checked["rollout-alerts"]
    assert outcome["status"] == "warn"
    assert "rollout_alerts.yml:4:5" in outcome["message"] and "needs an `expr:`" in outcome["message"]


def test_unreachable_prometheus_is_an_error_not_a_pass(tmp_path: Path) -> None:
    repo, policy = setup(tmp_path, f"http://127.0.0.1:{free_port()}")
    checked = repo.check(policy=policy, stage="deploy", now=1_700_000_000)
    assert checked.code == 1
    assert checked["rollout-alerts"]["status"] == "error"
    assert "cannot connect" in checked["rollout-alerts"]["message"]


def test_rules_file_comes_from_the_protected_ref_never_from_the_change(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    """The change empties the alerting rules; the gate still judges by main's version."""
    policy = alerts_policy(prometheus_server.url, rules_file=".changegate/rollout_alerts.yml")
    repo = Repo(tmp_path, files={".changegate/policy.yml": policy, ".changegate/rollout_alerts.yml": ROLLOUT})
    never = "groups:\n- name: g\n  rules:\n  - alert: Never\n    expr: vector(1) < 0\n"
    repo.write(".changegate/rollout_alerts.yml", never)
    repo.head = repo.commit("weaken the alerts")
    git("checkout", "-q", "--detach", repo.head, cwd=repo.path)
    checked = repo.check(policy_ref="refs/heads/main:.changegate/policy.yml", stage="deploy",
                         now=prometheus_server.history.end)
    assert checked.code == 1
    assert checked["rollout-alerts"]["seen"][0].startswith("RolloutErrorRateHigh{")
    assert "refs/heads/main:.changegate/rollout_alerts.yml" in checked["rollout-alerts"]["required"]


# --------------------------------------------------------------------------- as teams store them


def prometheus_rule(text: str) -> str:
    body = "\n".join("  " + line if line else line for line in text.splitlines())
    return ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: rollout\n"
            f"  namespace: ml\nspec:\n{body}\n")


def test_prometheus_rule_resource_in_a_manifest_bundle_denies_like_the_plain_file(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    bundle = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated}\ndata: {a: b}\n---\n"
              + prometheus_rule(ROLLOUT))
    repo, policy = setup(tmp_path, prometheus_server.url, rules=bundle)
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    assert checked.code == 1
    [seen] = checked["rollout-alerts"]["seen"]
    assert seen.startswith('RolloutErrorRateHigh{service="bad", severity="page"} firing (evaluated)')


def test_kube_prometheus_watchdog_always_fires_so_its_unfiltered_file_denies(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    """kube-prometheus's own PrometheusRule: Watchdog (`vector(1)`) fires by design; the gate says so."""
    kube = (Path(__file__).parent.parent / "facts_prometheus" / "kube_prometheus_rules.yaml").read_text()
    repo, policy = setup(tmp_path, prometheus_server.url, rules=kube)
    checked = repo.check(policy=policy, stage="deploy", now=prometheus_server.history.end)
    assert checked.code == 1
    assert any(line.startswith('Watchdog{severity="none"} firing') for line in checked["rollout-alerts"]["seen"])

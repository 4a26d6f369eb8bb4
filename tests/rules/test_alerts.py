"""`require: {alerts}` through the Facts interface: the rules file comes from the policy's trust
domain (Facts.trusted_file), never from the change."""

from __future__ import annotations

from tests.rules._memory import commit, outcome

POLICY = """\
version: 1
sources: {prometheus: {url: "http://127.0.0.1:9"}}
rules:
  - id: no-alerts
    require: {alerts: {rules_file: alerts.yml}}
"""


def test_a_missing_rules_file_denies_by_default() -> None:
    found = outcome(POLICY)
    assert found.status == "error" and "the alerting-rules file alerts.yml does not exist" in found.message


def test_a_rules_file_in_the_change_is_not_read() -> None:
    """The change brings alerts.yml; the trust domain has none: still missing."""
    found = outcome(POLICY, commits=[commit("alerts.yml")])
    assert found.status == "error" and "does not exist" in found.message


def test_a_rules_file_without_alerting_rules_is_an_error() -> None:
    recording = b"groups:\n  - name: g\n    rules:\n      - record: x:rate\n        expr: rate(x[5m])\n"
    found = outcome(POLICY, trusted_files={"alerts.yml": recording})
    assert found.status == "error" and "has no alerting rule" in found.message

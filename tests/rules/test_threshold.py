"""`require: {threshold}` through the Facts interface: what it does when Prometheus cannot be asked.
The verdicts on real answers are proven against a real Prometheus in tests/gates and
tests/facts_prometheus."""

from __future__ import annotations

import pytest

from tests.rules._memory import outcome

POLICY = """\
version: 1
sources: {{prometheus: {{url: "http://127.0.0.1:9", token_env: PROM_TOKEN}}}}
rules:
  - id: errors
    require: {{threshold: {{query: "rate(errors[5m])", below: 0.01{extra}}}}}
"""


@pytest.mark.parametrize(("extra", "status"), [("", "error"), (", on_error: warn", "warn"),
                                               (", on_error: allow", "pass")])
def test_a_credential_the_environment_lacks_is_decided_by_on_error(extra: str, status: str) -> None:
    found = outcome(POLICY.format(extra=extra), environ={})
    assert found.status == status
    assert "the Prometheus bearer token variable PROM_TOKEN is not set" in found.message


def test_the_credential_comes_from_the_entry_points_environment_not_the_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "from-the-process")
    found = outcome(POLICY.format(extra=""), environ={})
    assert found.status == "error" and "PROM_TOKEN is not set" in found.message


def test_not_judged_on_push_by_default() -> None:
    assert outcome(POLICY.format(extra=""), stage="push").status == "skip"

"""`--format sarif`: a SARIF 2.1.0 log of denied paths, rule failures and rule errors, valid under the
official OASIS schema (vendored in tests/report/sarif with its source), from a real `policy check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine import report
from tests.helpers.repos import Clone, Server, policy_cli
from tests.report.test_formats import SUBJECTS

SCHEMA = json.loads((Path(__file__).parent / "sarif" / "sarif-schema-2.1.0.json").read_text())
POLICY = """version: 1
name: sarif-test
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
    message: "Model weights belong in the model registry."
  - id: notebooks-trial
    deny_paths: ["*.ipynb"]
    enforcement: evaluate
  - id: no-new-branches
    refs: ["refs/heads/release/*"]
    deny: [creation]
  - id: accuracy
    on: [merge]
    require:
      benchmark: {results: {file: missing-results.json}, format: json, metric: acc, min: 0.5}
"""


def validate(log: dict[str, Any]) -> None:
    """Against the official schema, formats checked too (uri-reference, date-time)."""
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(log)


@pytest.fixture
def sarif(tmp_path: Path) -> dict[str, Any]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY)
    clone.commit("init")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.commit("change", "models/big model%.gguf", "analysis.ipynb")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy-ref",
                      "refs/remotes/origin/main:.changegate/policy.yml", "--ref", "refs/heads/release/1",
                      "--new", "HEAD", "--stage", "merge", "--format", "sarif", cwd=clone.path)
    assert proc.returncode == 1, proc.stderr
    log: dict[str, Any] = json.loads(proc.stdout)
    return log


def test_a_denied_change_is_a_valid_sarif_log(sarif: dict[str, Any]) -> None:
    validate(sarif)
    [run] = sarif["runs"]
    assert sarif["version"] == "2.1.0" and run["properties"]["decision"] == "denied"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "no-weights", "notebooks-trial", "no-new-branches", "accuracy"]


def test_a_denied_path_is_an_error_located_at_the_file(sarif: dict[str, Any]) -> None:
    [weights] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "no-weights"]
    assert weights["level"] == "error"
    [location] = weights["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "models/big%20model%25.gguf"
    assert "Model weights belong in the model registry" in weights["message"]["text"]


def test_evaluate_mode_findings_are_warnings(sarif: dict[str, Any]) -> None:
    [notebook] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "notebooks-trial"]
    assert notebook["level"] == "warning" and notebook["properties"]["status"] == "warn"


def test_a_rule_about_no_file_points_at_the_rule_in_the_policy(sarif: dict[str, Any]) -> None:
    [branch] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "no-new-branches"]
    physical = branch["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == ".changegate/policy.yml"
    assert physical["region"]["startLine"] == 10  # the line of `- id: no-new-branches`


def test_a_rule_error_is_a_denying_result_with_its_fix_as_help(sarif: dict[str, Any]) -> None:
    run = sarif["runs"][0]
    [accuracy] = [r for r in run["results"] if r["ruleId"] == "accuracy"]
    assert accuracy["level"] == "error" and accuracy["properties"]["status"] == "error"
    assert "missing-results.json" in accuracy["message"]["text"]
    [rule] = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "accuracy"]
    assert "To fix:" in rule["help"]["text"]


def test_passing_rules_are_not_results(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file), "--ref",
                      "refs/heads/main", "--new", "HEAD", "--format", "sarif")
    assert proc.returncode == 0, proc.stderr
    log = json.loads(proc.stdout)
    validate(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["properties"]["decision"] == "allowed"


@pytest.mark.parametrize("kind", SUBJECTS)
def test_every_subject_is_a_valid_sarif_log(kind: str) -> None:
    text = report.render("sarif", SUBJECTS[kind])
    validate(json.loads(text))


def test_a_finding_with_lines_is_located_at_each_line() -> None:
    from engine.decision import Outcome
    from tests.report.test_formats import DECISION

    finding = Outcome("no-secrets", "fail", "a token is committed", paths=("config/app.env", "README.md"),
                      data={"lines": {"config/app.env": [3, 17]}})
    log = json.loads(report.render("sarif", DECISION._replace(outcomes=(finding,))))
    validate(log)
    places = [(loc["physicalLocation"]["artifactLocation"]["uri"], loc["physicalLocation"].get("region"))
              for loc in log["runs"][0]["results"][0]["locations"]]
    assert places == [("config/app.env", {"startLine": 3}), ("config/app.env", {"startLine": 17}),
                      ("README.md", None)]


def test_a_bypassed_finding_stays_a_result_with_its_suppression_and_the_page_says_why(tmp_path: Path) -> None:
    policy = "version: 1\nname: glass\nbypass: {actors: [oncall], rules: [no-weights]}\nrules:\n" \
             "  - id: no-weights\n    deny_paths: ['*.gguf']\n"
    server = Server(tmp_path, policy)
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", policy)
    clone.commit("init")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.commit("restore", "m.gguf")
    page = tmp_path / "page.html"
    proc = policy_cli("check", "--repo", str(clone.path), "--policy-ref",
                      "refs/remotes/origin/main:.changegate/policy.yml", "--ref", "refs/heads/main", "--old",
                      "origin/main", "--new", "HEAD", "--actor", "oncall", "--bypass", "INC-9: restore",
                      "--format", "sarif", "--html", str(page), cwd=clone.path)
    assert proc.returncode == 0, proc.stderr
    log = json.loads(proc.stdout)
    validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "no-weights" and result["level"] == "error"
    assert result["suppressions"] == [{"kind": "external", "status": "accepted",
                                       "justification": "break-glass by oncall: INC-9: restore"}]
    html = page.read_text()
    assert "only because oncall bypassed 1 rule(s) that denied it (no-weights; break-glass, reason: INC-9: restore)" \
        in html
    assert "bypassed (break-glass)" in html

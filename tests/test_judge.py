"""One judge(): the push hook, `policy check`, `policy action` and `policy rollback-check` reach the
same decision on the same change (or, for rollback-check, the same measurement), because all four
hand their facts to engine.judge.judge. Real pushes into bare repositories, a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.facts.measurement import MeasurementFacts
from engine.judge import judge
from engine.policy.compile import compile_policy
from engine.policy.source import from_file
from tests.action.test_action import Repo as PullRequestRepo
from tests.action.test_action import pr_event, run_action
from tests.gates.gates_support import Repo as ChangeRepo
from tests.gates.gates_support import write_policy
from tests.helpers.fake_github import FakeGitHub, fake_github
from tests.helpers.prometheus import PrometheusServer, free_port, prometheus_history, prometheus_server
from tests.helpers.repos import git, policy_cli, protected

__all__ = ["fake_github", "prometheus_history", "prometheus_server"]

PUSH_POLICY = """version: 1
name: one-judge
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
  - id: notebooks-trial
    deny_paths: ["*.ipynb"]
    enforcement: evaluate
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward, deletion]
  - id: merge-only
    on: [merge]
    deny_paths: ["*.txt"]
"""


def verdict(report: dict[str, Any]) -> tuple[Any, ...]:
    """What a decision says, apart from who asked and how the server's refs were described."""
    return (report["allowed"], report["exit_code"], report["stage"], report["policy"]["digest"],
            [(u["ref"], u["old"], u["new"]) for u in report["updates"]], report["outcomes"])


def test_the_hook_and_policy_check_decide_the_same_push_alike(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, PUSH_POLICY)
    old = clone.head()
    clone.commit("weights", "models/m.gguf", "analysis.ipynb", "notes.txt")
    checked = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                         "--ref", "refs/heads/main", "--old", old, "--new", "HEAD", "--format", "json")

    pushed = clone.push("HEAD:refs/heads/main")

    assert pushed.code != 0 and checked.returncode == 1
    recorded = json.loads(server.audit_log.read_text().splitlines()[-1])
    report = json.loads(checked.stdout)
    assert (recorded["allowed"], recorded["exit_code"], recorded["outcomes"]) == (
        report["allowed"], report["exit_code"], report["outcomes"])
    assert [o["status"] for o in report["outcomes"]] == ["fail", "warn", "pass", "skip"]


def test_the_action_and_policy_check_decide_the_same_pull_request_alike(
        tmp_path: Path, fake_github: FakeGitHub) -> None:
    repo = PullRequestRepo(tmp_path, PUSH_POLICY)
    repo.write("models/m.gguf", "weights\n")
    repo.write("notes.txt", "merge-only\n")
    head = repo.open_pr()
    code, out, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    checked = policy_cli("check", "--repo", str(repo.work), "--policy", str(repo.work / ".changegate/policy.yml"),
                         "--ref", "refs/heads/main", "--old", repo.base, "--new", head, "--stage", "merge",
                         "--known-ref", "refs/heads/main", "--format", "json")

    assert code == 1 and checked.returncode == 1, out
    acted = json.loads(Path(outputs["report"]).read_text())
    assert verdict(acted) == verdict(json.loads(checked.stdout))
    assert acted["policy_edited"] is False


def test_rollback_check_measures_what_policy_check_judges_at_stage_deploy(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    """Each measurement is a judgement at stage deploy: rules at other stages or for other refs do not
    apply (rollback-check lists only those that do), and the rest reach the same verdicts."""
    bad = 'sum(rate(errors_total{service="bad"}[1m])) / sum(rate(requests_total{service="bad"}[1m]))'
    policy = write_policy(tmp_path, f"""version: 1
name: canary
sources:
  prometheus: {{url: "{prometheus_server.url}", timeout: 2s}}
rules:
  - id: canary-errors
    on: [deploy]
    require:
      threshold: {{query: {json.dumps(bad)}, below: 0.05}}
  - id: merge-only
    on: [merge]
    require:
      threshold: {{query: 'vector(1)', below: 0}}
  - id: prod-only
    on: [deploy]
    refs: [refs/heads/prod]
    require:
      threshold: {{query: 'vector(1)', below: 0}}
  - id: healthy
    on: [deploy]
    refs: [refs/heads/main]
    require:
      threshold: {{query: 'vector(0)', below: 1}}
""")
    now = str(prometheus_server.history.end)
    checked = ChangeRepo(tmp_path / "change").check(policy=policy, stage="deploy", now=float(now))
    measured = policy_cli("rollback-check", "--policy", str(policy), "--now", now, "--ref", "refs/heads/main",
                          "--format", "json")

    assert checked.code == 1 and measured.returncode == 1
    measurement = json.loads(measured.stdout.splitlines()[0])
    applied = [o for o in checked.report["outcomes"] if o["status"] != "skip"]
    assert [o["rule"] for o in applied] == ["canary-errors", "healthy"]
    assert measurement["outcomes"] == applied
    assert [o["status"] for o in applied] == ["fail", "pass"]


def test_a_measurement_needs_no_repository_and_judges_only_rules_on_live_data(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = write_policy(tmp_path, f"""version: 1
name: canary
sources:
  prometheus: {{url: "{url}", timeout: 1s}}
rules:
  - id: no-weights
    on: [deploy]
    deny_paths: ["*.gguf"]
  - id: canary-errors
    on: [deploy]
    require:
      threshold: {{query: 'vector(0)', below: 1, on_error: warn}}
""")
    source = from_file(str(policy))
    compiled = compile_policy(source.data, source.name)
    assert git("rev-parse", "--git-dir", cwd=tmp_path, check=False).code != 0  # not inside a repository

    decision = judge(compiled, MeasurementFacts(compiled, source, now=1_700_000_000.0, ref="refs/heads/main"))

    assert decision.stage == "deploy" and not decision.crashed
    [outcome] = decision.outcomes
    assert (outcome.rule, outcome.status) == ("canary-errors", "warn")
    assert "cannot connect to Prometheus" in outcome.message

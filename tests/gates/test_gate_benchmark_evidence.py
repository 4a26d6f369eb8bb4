"""Benchmark sources `evidence` and `refs/...`: metrics inside signed dry-run evidence.

Evidence is made by the real `policy dry-run --metrics FILE --attach` with a real ed25519
key; the baseline is the evidence of main's current tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gates.gates_support import Checked, Repo, write_policy
from tests.helpers.attest import KeyPair, make_key
from tests.helpers.repos import git, policy_cli

POLICY = """
version: 1
name: evals
trust: {allowed_signers: allowed_signers}
rules:
  - id: no-eval-regression
    require:
      benchmark: {results: evidence, baseline: refs/heads/main, metric: accuracy, max_regression: 0.02%s}
"""


@pytest.fixture(scope="module")
def ci(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key(tmp_path_factory.mktemp("keys"), "ci")


def dry_run(repo: Repo, key: KeyPair, rev: str, metrics: dict[str, object]) -> None:
    """Dry-run `rev` with these metrics and attach the signed evidence to its tree."""
    path = repo.path.parent / f"metrics-{rev[:8]}.json"
    path.write_text(json.dumps(metrics))
    git("checkout", "-q", "--detach", rev, cwd=repo.path)
    done = policy_cli("dry-run", "--key", str(key.path), "--metrics", str(path), "--attach", "--", "true",
                      cwd=repo.path)
    assert done.returncode == 0, done.stderr
    git("checkout", "-q", "--detach", repo.head, cwd=repo.path)


def judged(tmp_path: Path, ci: KeyPair, *, base: float | None, head: float | None, extra: str = "") -> Checked:
    return evidenced(tmp_path, ci, base=base, head=head).check(policy=write_policy(tmp_path, POLICY % extra))


def evidenced(tmp_path: Path, ci: KeyPair, *, base: float | None, head: float | None) -> Repo:
    """A repository whose main (base) and change (head) trees carry dry-run evidence with these accuracies."""
    repo = Repo(tmp_path)
    (tmp_path / "allowed_signers").write_text(f"ci-dry-run {ci.public_line}\n")
    if base is not None:
        dry_run(repo, ci, repo.base, {"accuracy": {"value": base, "n": 10000, "proportion": True}})
    if head is not None:
        dry_run(repo, ci, repo.head, {"accuracy": {"value": head, "n": 10000, "proportion": True}, "other": 1})
    return repo


def test_regression_against_mains_evidence_fails(tmp_path: Path, ci: KeyPair) -> None:
    checked = judged(tmp_path, ci, base=0.80, head=0.70)
    assert checked.code == 1
    outcome = checked["no-eval-regression"]
    assert outcome["status"] == "fail" and "a significant regression" in outcome["message"]
    assert "the evidence of refs/heads/main" in outcome["seen"][1]
    assert "0.7 " in outcome["seen"][0] and "n=10000" in outcome["seen"][0]


def test_equal_metrics_in_evidence_pass(tmp_path: Path, ci: KeyPair) -> None:
    checked = judged(tmp_path, ci, base=0.80, head=0.80)
    assert checked.code == 0, checked["no-eval-regression"]
    assert checked["no-eval-regression"]["status"] == "pass"


def test_main_without_evidence_is_a_missing_baseline(tmp_path: Path, ci: KeyPair) -> None:
    checked = judged(tmp_path, ci, base=None, head=0.80)
    assert checked.code == 1
    outcome = checked["no-eval-regression"]
    assert outcome["status"] == "error"
    assert "the baseline is missing: no accepted dry-run evidence for tree" in outcome["message"]


def test_missing_baseline_with_a_minimum_warns_and_judges_the_minimum(tmp_path: Path, ci: KeyPair) -> None:
    checked = judged(tmp_path, ci, base=None, head=0.80, extra=", min: 0.7")
    assert checked.code == 0
    assert checked["no-eval-regression"]["status"] == "warn"
    assert "baseline missing" in checked["no-eval-regression"]["message"]


def test_change_without_evidence_cannot_be_judged(tmp_path: Path, ci: KeyPair) -> None:
    checked = judged(tmp_path, ci, base=0.80, head=None)
    assert checked.code == 1
    assert "cannot read the candidate's accuracy: no accepted dry-run evidence" in \
        checked["no-eval-regression"]["message"]


def test_evidence_without_the_metric_lists_what_it_records(tmp_path: Path, ci: KeyPair) -> None:
    repo = evidenced(tmp_path, ci, base=0.80, head=0.80)
    checked = repo.check(policy=write_policy(tmp_path, (POLICY % "").replace("metric: accuracy", "metric: f1")))
    assert checked.code == 1
    assert "records no metric 'f1'; it records accuracy, other" in checked["no-eval-regression"]["message"]

"""`policy check` with evidence: files handed in (CI artifacts), `--now`, `paths:`, and the deploy
stage's model checksums; plus find_evidence, the API other rules build on."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from engine.change import Actor, Change, Inputs, RefUpdate
from engine.evidence import Accepted
from engine.facts.evidence import find_evidence
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.policy.compile import compile_policy
from engine.policy.source import PolicySource
from engine.times import parse_duration
from tests.evidence.evidence_support import POLICY, create, dry_run, protected, push_with_notes, tree
from tests.helpers.attest import KeyPair
from tests.helpers.repos import Clone, policy_cli


def check(clone: Clone, policy: Path, *args: str) -> tuple[int, str]:
    """Would pushing HEAD to main pass? (exit code, every outcome's message and seen lines)"""
    done = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/main",
                      "--old", "origin/main", "--new", "HEAD", "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    outcomes = json.loads(done.stdout)["outcomes"]
    return done.returncode, "\n".join(line for o in outcomes for line in [o["message"], *o["seen"]])


def test_evidence_file_from_ci_satisfies_policy_check(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    artifact = tmp_path / "ci-artifact.json"
    create(clone, ci, artifact, "--env", "staging", "--exit-code", "0")
    code, out = check(clone, server.policy_file)
    assert code == 1 and "no evidence found" in out
    code, out = check(clone, server.policy_file, "--evidence", str(artifact))
    assert code == 0, out
    assert f"accepted file {artifact}: passed in staging, signed by ci-dry-run" in out


def test_evidence_file_for_another_tree_is_rejected_as_wrong_tree(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    artifact = tmp_path / "ci-artifact.json"
    create(clone, ci, artifact, "--env", "staging", "--exit-code", "0")
    old_tree = tree(clone)
    clone.commit("prompt changed after the CI run", "prompts/a.txt")
    code, out = check(clone, server.policy_file, "--evidence", str(artifact))
    assert code == 1
    assert f"file {artifact}: wrong-tree: it is for tree {old_tree[:12]}, not the judged tree {tree(clone)[:12]}" in out


def test_max_age_is_measured_from_the_dry_runs_end_to_the_decision_time(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    artifact = tmp_path / "run.json"
    create(clone, ci, artifact, "--env", "staging", "--exit-code", "0",
           "--started", "2026-01-01T00:00:00Z", "--finished", "2026-01-01T01:00:00Z")
    code, out = check(clone, server.policy_file, "--evidence", str(artifact), "--now", "2026-01-08T00:59:00Z")
    assert code == 0, out
    code, out = check(clone, server.policy_file, "--evidence", str(artifact), "--now", "2026-01-08T01:01:00Z")
    assert code == 1 and ": expired: it finished at 2026-01-01T01:00:00Z, 7d1m ago" in out
    code, out = check(clone, server.policy_file, "--evidence", str(artifact), "--now", "2025-12-31T00:00:00Z")
    assert code == 1 and ": future: " in out


PATHS_POLICY = """
version: 1
name: evidence-paths
trust: {allowed_signers: allowed_signers}
rules:
  - id: model-dry-run
    refs: ["refs/heads/main"]
    when: {paths: ["models/", "prompts/", "docs/"]}
    require:
      evidence: {type: dry-run, signers: ci-dry-run, paths: ["models/", "prompts/"]}
"""


def test_with_paths_evidence_for_another_tree_counts_when_the_listed_subtrees_are_identical(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev, policy=PATHS_POLICY)
    clone.commit("model", "models/m/config.yaml", "prompts/p.txt")
    assert dry_run(clone, ci).returncode == 0
    clone.commit("docs only: same models/ and prompts/", "docs/guide.md")
    result = push_with_notes(clone)
    assert result.code == 0, result.out


def test_with_paths_a_change_to_a_listed_subtree_needs_new_evidence(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev, policy=PATHS_POLICY)
    clone.commit("model", "models/m/config.yaml", "prompts/p.txt")
    assert dry_run(clone, ci).returncode == 0
    clone.commit("model tweak", "models/m/config.yaml")
    result = push_with_notes(clone)
    assert result.code != 0
    assert "wrong-tree" in result.remote and "models/m/config.yaml (changed)" in result.remote


DEPLOY_POLICY = """
version: 1
name: evidence-deploy
trust: {allowed_signers: allowed_signers}
rules:
  - id: deploy-what-was-dry-run
    on: [deploy]
    refs: ["refs/heads/main"]
    require:
      evidence: {type: dry-run, signers: ci-dry-run, env: staging}
"""
WEIGHTS = b"\x00weights of support-7b\x01" * 1000


def lfs_pointer(content: bytes) -> str:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(content).hexdigest()}\n"
            f"size {len(content)}\n")


def deployed(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> tuple[Path, Path]:
    """main holds an LFS pointer for the weights; its dry run recorded the pointer's oid."""
    server, clone = protected(tmp_path, ci, dev, policy=DEPLOY_POLICY)
    clone.write("models/support-7b/model.safetensors", lfs_pointer(WEIGHTS))
    clone.commit("weights via LFS")
    ran = dry_run(clone, ci, "--env", "staging", "--artifact", "models/support-7b/model.safetensors")
    assert ran.returncode == 0, ran.stderr
    assert push_with_notes(clone).code == 0
    return server.path, server.policy_file


def deploy_check(repo: Path, policy: Path, *artifacts: Path) -> tuple[int, str]:
    args = [arg for a in artifacts for arg in ("--artifact", str(a))]
    done = policy_cli("check", "--repo", str(repo), "--policy", str(policy), "--stage", "deploy",
                      "--ref", "refs/heads/main", "--new", "refs/heads/main", *args)
    return done.returncode, done.stdout + done.stderr


def test_deploy_of_the_weights_that_were_dry_run_is_allowed(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    repo, policy = deployed(tmp_path, ci, dev)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(WEIGHTS)
    code, out = deploy_check(repo, policy, weights)
    assert code == 0, out
    assert "1 artifact(s) match its digests" in out


def test_deploy_of_other_weights_is_denied(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    repo, policy = deployed(tmp_path, ci, dev)
    other = tmp_path / "model.safetensors"
    other.write_bytes(WEIGHTS + b"fine-tuned later")
    code, out = deploy_check(repo, policy, other)
    assert code == 1
    assert "1 deployed artifact(s) differ from every artifact the dry run used" in out
    assert f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()[:16]}" in out  # what the evidence records


def test_deploy_of_an_lfs_pointer_is_checked_by_its_oid(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    repo, policy = deployed(tmp_path, ci, dev)
    pointer = tmp_path / "pointer"
    pointer.write_text(lfs_pointer(WEIGHTS))
    assert deploy_check(repo, policy, pointer)[0] == 0
    pointer.write_text(lfs_pointer(WEIGHTS[:-1]))
    assert deploy_check(repo, policy, pointer)[0] == 1


def test_deploy_denied_when_the_evidence_recorded_no_artifacts(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev, policy=DEPLOY_POLICY)
    clone.commit("config", "models/m/config.yaml")
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    assert push_with_notes(clone).code == 0
    weights = tmp_path / "w.bin"
    weights.write_bytes(WEIGHTS)
    code, out = deploy_check(server.path, server.policy_file, weights)
    assert code == 1 and "the accepted evidence records no artifact digests" in out


def test_find_evidence_returns_accepted_records_with_their_metrics_and_rejections_with_reasons(
        tmp_path: Path, ci: KeyPair, dev: KeyPair, mallory: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"hellaswag": {"acc,none": 0.81}}')
    assert dry_run(clone, ci, "--env", "staging", "--metrics", str(metrics)).returncode == 0
    assert dry_run(clone, mallory, "--env", "staging").returncode == 0
    git = Git.discover(str(clone.path))
    head = clone.head()
    source = PolicySource(server.policy_file.read_bytes(), str(server.policy_file))
    change = Change((RefUpdate("0" * 40, head, b"refs/heads/main"),), Actor("ann", "cli", "test"), "merge")
    facts = GitFacts(git, change,
                  inputs=Inputs(now=time.time()),
                  policy=compile_policy(POLICY.encode(), "policy.yml"), source=source)
    accepted, rejected = find_evidence(facts, tree(clone), signers=["ci-dry-run"])
    assert [type(a) for a in accepted] == [Accepted]
    assert accepted[0].predicate["metrics"] == {"hellaswag": {"acc,none": 0.81}}
    assert accepted[0].signers == ("ci-dry-run",) and accepted[0].tree == tree(clone)
    assert [(r.source, r.reason) for r in rejected] == [(f"note on tree {tree(clone)[:12]} (line 2)", "unknown-key")]
    assert find_evidence(facts, tree(clone), env="prod")[0] == []


def test_duration_strings_follow_the_schema() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5

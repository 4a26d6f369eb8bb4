"""`policy check`: the same verdict as the hook, locally; every exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers.repos import Clone, Server, git, policy_cli

POLICY = """
version: 1
name: check-test
rules:
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward, deletion]
  - id: no-weights
    deny_paths: ["*.gguf"]
"""
ZERO = "0" * 40


def repo(tmp_path: Path) -> tuple[Server, Clone, Path]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone, server.policy_file


def test_allowed_update_exits_0_with_json_outcomes(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    clone.commit("more", "a.txt")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/main",
                      "--old", "origin/main", "--new", "HEAD", "--known-ref", "refs/remotes/**", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["allowed"] is True
    assert {o["rule"]: o["status"] for o in report["outcomes"]} == {"protect-main": "pass", "no-weights": "pass"}


def test_denied_update_exits_1_and_explains(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    clone.commit("weights", "m.gguf")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/main",
                      "--old", "origin/main", "--new", "HEAD", "--known-ref", "refs/remotes/**", "--format", "json")
    assert proc.returncode == 1
    outcome = {o["rule"]: o for o in json.loads(proc.stdout)["outcomes"]}["no-weights"]
    assert outcome["status"] == "fail"
    assert any("adds m.gguf" in s for s in outcome["seen"])
    assert outcome["required"] and outcome["fix"]


def test_local_clone_judges_commits_not_on_the_remote(tmp_path: Path) -> None:
    """In a clone, local branches are not on the server: the push remote's tracking refs are."""
    server, clone, policy = repo(tmp_path)
    clone.commit("weights", "m.gguf")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/topic",
                      "--old", ZERO, "--new", "HEAD")
    assert proc.returncode == 1
    assert "not on origin's branches as last fetched" in proc.stdout
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/topic",
                      "--old", ZERO, "--new", "HEAD", "--known-ref", "refs/heads/**")
    assert proc.returncode == 0  # told explicitly that local branches count as pushed


def test_deletion_with_zero_new_on_the_server_repository(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    proc = policy_cli("check", "--repo", str(server.path), "--policy", str(policy),
                      "--ref", "refs/heads/main", "--new", ZERO)
    assert proc.returncode == 1
    assert "deletion" in proc.stdout


def test_stdin_takes_pre_receive_lines(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    head = server.rev("main")
    clone.commit("w", "x.gguf")
    assert clone.push("HEAD:refs/heads/topic").code != 0
    git("push", "-q", str(server.path), f"{head}:refs/heads/other", cwd=clone.path)
    lines = f"{head} {ZERO} refs/heads/other\n{ZERO} {head} refs/heads/copy\n".encode()
    proc = policy_cli("check", "--repo", str(server.path), "--policy", str(policy), "--stdin",
                      "--format", "json", stdin=lines)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [u["kind"] for u in json.loads(proc.stdout)["updates"]] == ["deletion", "creation"]


def test_invalid_policy_exits_2(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    policy.write_text("version: 1\nrules: [{id: x}]\n")
    proc = policy_cli("check", "--repo", str(server.path), "--policy", str(policy),
                      "--ref", "refs/heads/main", "--new", "main")
    assert proc.returncode == 2
    assert "must have exactly one of" in proc.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    missing_new = policy_cli("check", "--repo", str(server.path), "--policy", str(policy), "--ref", "refs/heads/main")
    assert missing_new.returncode == 2 and "--new" in missing_new.stderr
    bad_rev = policy_cli("check", "--repo", str(server.path), "--policy", str(policy), "--ref", "refs/heads/main",
                         "--new", "no-such-rev")
    assert bad_rev.returncode == 2 and "does not name a commit" in bad_rev.stderr
    not_repo = policy_cli("check", "--repo", str(tmp_path), "--policy", str(policy), "--ref", "refs/heads/x",
                          "--new", "HEAD")
    assert not_repo.returncode == 2 and "not a git repository" in not_repo.stderr


def test_unexpected_git_failure_exits_3_without_traceback(tmp_path: Path) -> None:
    server, clone, policy = repo(tmp_path)
    clone.commit("two", "b.txt")
    tree = git("rev-parse", "HEAD^{tree}", cwd=clone.path).out.strip()
    obj = clone.path / ".git" / "objects" / tree[:2] / tree[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"corrupt")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--ref", "refs/heads/main",
                      "--old", "origin/main", "--new", "HEAD", "--known-ref", "refs/remotes/**")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "could not be evaluated: GitError: git log failed" in proc.stdout


def test_policy_ref_reads_the_refs_current_value(tmp_path: Path) -> None:
    server = Server(tmp_path, None, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY)
    clone.commit("policy")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy-ref", "refs/heads/main:.changegate/policy.yml",
                      "--ref", "refs/heads/main", "--new", "HEAD", "--old", ZERO, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["policy"]["name"] == "check-test"

"""`policy check` in a work tree judges what the push would bring, never "nothing new".

Local branches are not on the server: in a clone, commits count as already pushed only
when the push remote's tracking refs hold them (or, without a remote, the ref's old
value). The output always says which commits were judged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.repos import Clone, Server, git, policy_cli, protected

POLICY = """
version: 1
name: local
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
  - id: branches-no-notebooks
    refs: ["refs/heads/**"]
    deny_paths: ["*.ipynb"]
"""
ZERO = "0" * 40


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    server, clone = protected(tmp_path, POLICY)
    clone.git("fetch", "-q")
    return server, clone


def check(clone: Clone, policy: Path, *args: str, stdin: bytes | None = None) -> tuple[int, dict[str, Any]]:
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(policy), "--format", "json", *args,
                      stdin=stdin)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_old_new_in_a_clone_judges_the_commits_the_push_would_bring(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    old = clone.head()
    new = clone.commit("weights", "w.safetensors")
    code, report = check(clone, server.policy_file, "--ref", "refs/heads/main", "--old", old, "--new", new)
    assert code == 1
    assert report["judged"][0]["commits"] == [new]
    assert "not on origin's branches" in report["judged"][0]["basis"]
    # and the server agrees
    assert clone.push("HEAD:refs/heads/main").code != 0


def test_stdin_in_a_clone_judges_the_same(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    old = clone.head()
    new = clone.commit("weights", "w.safetensors")
    code, _ = check(clone, server.policy_file, "--stdin", stdin=f"{old} {new} refs/heads/main\n".encode())
    assert code == 1


def test_a_new_branch_in_a_clone_is_judged_against_the_remote(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.git("checkout", "-q", "-b", "topic")
    new = clone.commit("notebook", "n.ipynb")
    code, report = check(clone, server.policy_file, "--ref", "refs/heads/topic", "--old", ZERO, "--new", new)
    assert code == 1
    assert {o["rule"]: o["status"] for o in report["outcomes"]}["branches-no-notebooks"] == "fail"
    assert clone.push("HEAD:refs/heads/topic").code != 0


def test_without_a_remote_old_new_is_judged(tmp_path: Path, repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.git("remote", "remove", "origin")
    old = clone.head()
    new = clone.commit("weights", "w.safetensors")
    code, report = check(clone, server.policy_file, "--ref", "refs/heads/main", "--old", old, "--new", new)
    assert code == 1
    assert "old value" in report["judged"][0]["basis"]


def test_the_text_output_says_which_commits_were_judged(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    old = clone.head()
    new = clone.commit("docs", "docs/a.md")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                      "--ref", "refs/heads/main", "--old", old, "--new", new)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 new commit(s) judged" in proc.stdout
    assert "judged: refs/heads/main: 1 commit(s) not on origin's branches as last fetched" in proc.stdout


def test_commits_already_on_the_remote_are_not_judged_again(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("docs", "docs/a.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.git("fetch", "-q")
    old = git("rev-parse", "origin/main", cwd=clone.path).out.strip()
    new = clone.commit("more docs", "docs/b.md")
    code, report = check(clone, server.policy_file, "--ref", "refs/heads/main", "--old", old, "--new", new)
    assert code == 0
    assert report["judged"][0]["commits"] == [new]

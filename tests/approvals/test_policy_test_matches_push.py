"""Signed approvals described in a policy test get the verdict real records get on a real push
(real keys, `policy approve`, the hook): the records a test describes cannot drift from git's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.approvals.conftest import Repo
from tests.helpers.repos import policy_cli

POLICY = """\
version: 1
name: approvals-cross-check
trust: {allowed_signers: allowed_signers}
rules:
  - id: prompts-reviewed
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com, ann@example.com]}}
"""
CASE = """\
  - name: NAME
    refs: {refs/heads/main: init, refs/heads/feature: c1}
    commits:
      - {id: init, author: "Ann Author <ann@example.com>", files: {README.md: "init\\n"}}
      - {id: c1, author: "Ann Author <ann@example.com>", files: {prompts/system.txt: "change\\n"}}
    updates: [{ref: refs/heads/main, new: c1}]
    approvals: APPROVALS
    expect: {decision: allow}
"""


def described(root: Path, approvals: list[str]) -> tuple[bool, dict[str, str]]:
    root.mkdir(exist_ok=True)
    (root / "policy.yml").write_text(POLICY)
    tests = root / "policy.tests.yml"
    listed = "[" + ", ".join(f"{{by: {who}}}" for who in approvals) + "]"
    tests.write_text("version: 1\ncases:\n" + CASE.replace("NAME", "described").replace("APPROVALS", listed))
    proc = policy_cli("test", str(tests), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    [case] = json.loads(proc.stdout)["cases"]
    return case["decision"] == "allow", {o["rule"]: o["status"] for o in case["outcomes"]}


def real(repo: Repo) -> tuple[bool, dict[str, str]]:
    code, out = repo.push_main()
    record = repo.last_decision()
    assert (code == 0) == record["allowed"], out
    return record["allowed"], {o["rule"]: o["status"] for o in record["outcomes"]}


def test_approvals_described_and_signed_for_real_get_the_same_verdicts(make_repo: Callable[[str], Repo],
                                                                      tmp_path: Path) -> None:
    repo = make_repo(POLICY)
    commit = repo.propose("prompts/system.txt")
    none = real(repo)
    assert none == (False, {"prompts-reviewed": "fail"})
    assert described(tmp_path / "none", []) == none

    repo.approve("ann@example.com", commit)  # the author approving her own change does not count
    own = real(repo)
    assert own == (False, {"prompts-reviewed": "fail"})
    assert described(tmp_path / "own", ["ann@example.com"]) == own

    repo.approve("alice@example.com", commit)
    approved = real(repo)
    assert approved == (True, {"prompts-reviewed": "pass"})
    assert described(tmp_path / "approved", ["ann@example.com", "alice@example.com"]) == approved

"""What a push brings that is new to the repository (`new --not --all`), held against clients
that send what `git push` never would.

Old values in pre-receive are the client's word: receive-pack checks each only when it updates
that ref, after the hook, and a push's other updates still land. So nothing the hook excludes
from a walk may come from another update's claimed old value, and a commit that is stored but on
no ref (left by a deleted branch) is as new as one the push sends. Each test pushes through a real
receive-pack into a bare repository with the hook: with `git push`, or by writing the commands to
receive-pack itself (tests/helpers/repos.py raw_push).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server, protected, raw_push
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: new-commits
bypass:
  actors: [alice]
  rules: [no-weights]
  reason: required
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
"""
ALICE = server_env("gitlab", "alice")
BYPASS = ("-o", "changegate.bypass=INC-7: hotfix weights")
NEW = "commit(s) not on any ref of the repository"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    return protected(tmp_path, POLICY, env=ALICE)


def dangling_weights(server: Server, clone: Clone) -> str:
    """A commit adding weights, left in the server's store by a bypassed push to a branch since
    deleted: on no ref, so new to the repository."""
    main = clone.head()
    weights = clone.commit("weights", "model.safetensors")
    assert clone.push(*BYPASS, "HEAD:refs/heads/scratch", env=ALICE).code == 0
    assert clone.push(":refs/heads/scratch", env=ALICE).code == 0
    clone.git("reset", "-q", "--hard", main)
    assert server.rev("refs/heads/scratch") is None
    assert server.rev(f"{weights}^{{commit}}") == weights  # stored, on no ref
    return weights


def test_a_dangling_commit_pushed_again_is_judged(repo: tuple[Server, Clone]) -> None:
    """git push sends the commit again (no advertised ref has it): in the push and in the store."""
    server, clone = repo
    main = server.rev("refs/heads/main")
    weights = dangling_weights(server, clone)
    result = clone.push(f"{weights}:refs/heads/main", env=ALICE)
    assert result.code != 0
    assert "[DENY] no-weights" in result.remote and f"judged: refs/heads/main: 1 {NEW}" in result.remote
    assert server.rev("refs/heads/main") == main


def test_a_dangling_commit_named_without_sending_it_is_judged(repo: tuple[Server, Clone]) -> None:
    """Only the store has the commit (an empty pack): stored is not the same as on a ref."""
    server, clone = repo
    main = server.rev("refs/heads/main")
    weights = dangling_weights(server, clone)
    result = raw_push(server, clone, [f"{main} {weights} refs/heads/main"], [], env=ALICE)
    assert "[DENY] no-weights" in result.out and f"judged: refs/heads/main: 1 {NEW}" in result.out
    assert "ng refs/heads/main pre-receive hook declined" in result.out
    assert server.rev("refs/heads/main") == main


def test_a_commit_already_on_another_ref_is_not_judged_again(repo: tuple[Server, Clone]) -> None:
    """A hotfix pushed with break-glass to `feature`, then `feature:main`: nothing is new to the
    repository; judging it again would deny what was accepted."""
    server, clone = repo
    weights = clone.commit("weights", "model.safetensors")
    clone.git("branch", "feature")
    assert clone.push(*BYPASS, "feature", env=ALICE).code == 0
    result = clone.push("feature:main", env=ALICE)
    assert result.code == 0, result.out
    assert "(1 of 1 rules applied, 0 new commit(s) judged)" in result.remote
    assert server.rev("refs/heads/main") == weights


def test_a_push_creating_one_branch_and_updating_another_is_judged_per_ref(repo: tuple[Server, Clone]) -> None:
    """main gains a clean commit; the new branch carries it and adds weights on top: each ref
    judged on its own walk (1 and 2 commits), and the push denied."""
    server, clone = repo
    main = server.rev("refs/heads/main")
    clean = clone.commit("docs", "docs/a.md")
    clone.commit("weights", "model.safetensors")
    result = clone.push(f"{clean}:refs/heads/main", "HEAD:refs/heads/topic", env=ALICE)
    assert result.code != 0
    assert "[DENY] no-weights" in result.remote
    assert f"judged: refs/heads/main: 1 {NEW}" in result.remote
    assert f"judged: refs/heads/topic: 2 {NEW}" in result.remote
    assert server.rev("refs/heads/main") == main and server.rev("refs/heads/topic") is None


def test_a_made_up_old_value_cannot_hide_a_pushed_commit(repo: tuple[Server, Clone]) -> None:
    """A client claims refs/heads/decoy holds the pushed commit. That update fails later (decoy
    holds nothing), but main's would land: were the claim believed, main's walk would exclude the
    weights and allow them onto main."""
    server, clone = repo
    main = server.rev("refs/heads/main")
    weights = clone.commit("weights", "model.safetensors")
    result = raw_push(server, clone, [f"{main} {weights} refs/heads/main", f"{weights} {main} refs/heads/decoy"],
                      [weights, f"^{main}"], env=ALICE)
    assert "[DENY] no-weights" in result.out and f"judged: refs/heads/main: 1 {NEW}" in result.out
    assert "ng refs/heads/main pre-receive hook declined" in result.out
    assert server.rev("refs/heads/main") == main

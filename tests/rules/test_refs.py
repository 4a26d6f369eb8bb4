"""`deny:` on refs, proven with real pushes into a bare repository with the hook."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.repos import Clone, Server
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: refs-test
rules:
  - id: protect-main
    refs: ["refs/heads/main", "refs/heads/release/**"]
    deny: [non_fast_forward, deletion]
  - id: immutable-tags
    refs: ["refs/tags/**"]
    deny: [update, deletion]
  - id: no-new-release-branches
    refs: ["refs/heads/release/**"]
    deny: [creation]
    except: {actors: [release-manager]}
"""


def setup(tmp_path: Path) -> tuple[Server, Clone]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone


def test_fast_forward_push_to_main_is_accepted_with_one_line(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    head = clone.commit("more", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert server.rev("main") == head
    assert len(result.remote.splitlines()) == 1
    assert "allowed" in result.remote


def test_force_push_to_main_is_rejected_naming_rule_and_commits(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    before = server.rev("main")
    clone.git("commit", "-q", "--amend", "-m", "rewritten")
    result = clone.push("--force", "HEAD:refs/heads/main")
    assert result.code != 0
    assert server.rev("main") == before
    assert "[DENY] protect-main" in result.remote
    assert f"non-fast-forward {before[:10]} -> {clone.head()[:10]}" in result.remote
    assert "to fix:" in result.remote


def test_rewinding_main_to_an_ancestor_is_non_fast_forward(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.commit("second", "b.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0
    result = clone.push("--force", "HEAD~1:refs/heads/main")
    assert result.code != 0
    assert "protect-main" in result.remote


def test_force_push_to_an_unprotected_branch_is_accepted(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.commit("topic", "t.txt")
    assert clone.push("HEAD:refs/heads/topic").code == 0
    clone.git("commit", "-q", "--amend", "-m", "topic rewritten")
    result = clone.push("--force", "HEAD:refs/heads/topic")
    assert result.code == 0, result.out
    assert server.rev("topic") == clone.head()


def test_deleting_main_is_rejected(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    result = clone.push(":refs/heads/main")
    assert result.code != 0
    assert "deletion" in result.remote and "protect-main" in result.remote
    assert server.rev("main") is not None


def test_new_tag_is_accepted_but_moving_or_deleting_it_is_rejected(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.git("tag", "v1.0")
    assert clone.push("refs/tags/v1.0").code == 0
    tagged = server.rev("v1.0")
    clone.commit("fix", "fix.txt")
    clone.git("tag", "-f", "v1.0")
    moved = clone.push("--force", "refs/tags/v1.0")
    assert moved.code != 0 and "immutable-tags" in moved.remote
    deleted = clone.push(":refs/tags/v1.0")
    assert deleted.code != 0 and "deletion" in deleted.remote
    assert server.rev("v1.0") == tagged


def test_release_pattern_covers_nested_branches_and_creation_is_denied(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    result = clone.push("HEAD:refs/heads/release/1.0/hotfix")
    assert result.code != 0
    assert "no-new-release-branches" in result.remote
    assert "creation" in result.remote
    assert server.rev("refs/heads/release/1.0/hotfix") is None


def test_exempt_actor_may_create_release_branch(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    result = clone.push("HEAD:refs/heads/release/2.0", env=server_env("gitlab", "release-manager"))
    assert result.code == 0, result.out
    assert server.rev("refs/heads/release/2.0") == clone.head()


def test_one_denied_ref_rejects_the_whole_atomic_decision_but_names_only_it(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.commit("topic", "t.txt")
    result = clone.push("HEAD:refs/heads/topic", ":refs/heads/main")
    assert result.code != 0
    assert "refs/heads/main" in result.remote
    assert "refs/heads/topic" not in result.remote.split("[DENY]", 1)[1]
    assert server.rev("topic") is None  # pre-receive rejects every ref of the push


def test_policy_wide_evaluate_mode_reports_every_failure_but_never_denies(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY.replace("name: refs-test\n", "name: refs-test\nenforcement: evaluate\n"))
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.git("commit", "-q", "--amend", "-m", "rewritten")
    result = clone.push("--force", "HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "1 warning(s): protect-main" in result.remote
    assert server.rev("main") == clone.head()

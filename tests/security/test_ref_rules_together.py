"""The rules' `refs:` are matched together (one pattern set for the whole policy): each rule
still decides by its own patterns alone, with git's semantics (its last match wins, a directory
it matches decides what lies below), never by another rule's."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.repos import Clone, Server

POLICY = """
version: 1
name: refs-together
rules:
  - id: keep-releases
    refs: ["refs/heads/release/**", "!refs/heads/release/scratch-*"]
    deny: [deletion, non_fast_forward]
  - id: frozen-tags
    refs: ["refs/tags/v*"]
    deny: [update, deletion]
  - id: no-weights-off-release
    refs: ["refs/heads/*", "!refs/heads/release"]
    deny_paths: ["*.bin"]
  - id: main-only
    refs: ["refs/heads/main"]
    deny: [deletion]
"""


def test_each_rule_keeps_its_own_ref_patterns_through_real_pushes(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    for ref in ("main", "release/v1", "release/scratch-1", "feature/x"):
        assert clone.push(f"HEAD:refs/heads/{ref}").code == 0, ref
    assert clone.push("HEAD:refs/tags/v1").code == 0

    denied = clone.push(":refs/heads/release/v1")  # keep-releases matches; no other rule's negation leaks in
    assert denied.code != 0 and "[DENY] keep-releases" in denied.remote
    assert clone.push(":refs/heads/release/scratch-1").code == 0  # its own negation excludes it
    assert server.rev("refs/heads/release/scratch-1") is None

    clone.commit("weights", "model.bin")
    on_feature = clone.push("HEAD:refs/heads/feature/x")  # refs/heads/* matches the directory feature
    assert on_feature.code != 0 and "[DENY] no-weights-off-release" in on_feature.remote
    assert "keep-releases" not in on_feature.remote.split("[DENY]", 1)[1]
    assert clone.push("HEAD:refs/heads/release/v1").code == 0  # its own negation re-includes the directory

    retag = clone.push("--force", "HEAD:refs/tags/v1")
    assert retag.code != 0 and "[DENY] frozen-tags" in retag.remote
    assert clone.push("HEAD:refs/tags/w1").code == 0  # v* only: another rule's ** does not make it frozen
    gone = clone.push(":refs/heads/main")
    assert gone.code != 0 and "[DENY] main-only" in gone.remote

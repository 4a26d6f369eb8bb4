"""Refs that point at trees, blobs or tag chains bring paths no commit walk sees: all are judged.

Each test pushes through a real receive-pack into a bare repository with the hook.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server, git, protected

POLICY = """
version: 1
name: objects
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
  - id: prompts-reviewed
    when: {paths: ["prompts/"]}
    deny_paths: ["*.tmp"]
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    return protected(tmp_path, POLICY)


def tree_with(clone: Clone, *paths: str) -> str:
    """A tree object holding `paths` (and the index's files), never committed."""
    for path in paths:
        clone.write(path, b"weights\n")
    clone.git("add", "-A")
    tree = clone.git("write-tree").out.strip()
    clone.git("reset", "-q", "--hard")
    clone.git("clean", "-qfdx")
    return tree


def tag_object(clone: Clone, target: str, kind: str, name: str) -> str:
    body = f"object {target}\ntype {kind}\ntag {name}\ntagger Ann <ann@example.com> 0 +0000\n\nx\n"
    return git("mktag", cwd=clone.path, stdin=body.encode()).out.strip()


@pytest.mark.parametrize("ref", ["refs/tags/weights", "refs/heads/weights", "refs/changegate-anything/x"])
def test_a_ref_pointing_at_a_tree_is_judged_like_a_root_commit(repo: tuple[Server, Clone], ref: str) -> None:
    server, clone = repo
    tree = tree_with(clone, "models/deep/w.safetensors")
    result = clone.push(f"{tree}:{ref}")
    assert result.code != 0
    assert f"tree {tree[:10]} on {ref} adds models/deep/w.safetensors" in result.remote
    assert server.rev(ref) is None


def test_a_tag_chain_ending_in_a_tree_is_peeled_and_judged(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    tree = tree_with(clone, "w.safetensors")
    inner = tag_object(clone, tree, "tree", "inner")
    outer = tag_object(clone, inner, "tag", "outer")
    result = clone.push(f"{outer}:refs/tags/outer")
    assert result.code != 0
    assert f"tree {tree[:10]} on refs/tags/outer adds w.safetensors" in result.remote
    assert "judged: refs/tags/outer: tree" in result.remote


def test_a_tree_ref_triggers_when_paths(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    tree = tree_with(clone, "prompts/draft.tmp")
    result = clone.push(f"{tree}:refs/tags/prompts")
    assert result.code != 0
    assert "[DENY] prompts-reviewed" in result.remote


def test_a_clean_tree_ref_is_allowed(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    tree = tree_with(clone, "docs/readme.md")
    assert clone.push(f"{tree}:refs/tags/docs").code == 0


def test_a_blob_ref_fails_closed_with_a_reason(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    blob = git("hash-object", "-w", "--stdin", cwd=clone.path, stdin=b"anything\n").out.strip()
    tag = tag_object(clone, blob, "blob", "b")
    for new, ref in ((blob, "refs/tags/blob"), (tag, "refs/tags/blob-tag")):
        result = clone.push(f"{new}:{ref}")
        assert result.code != 0
        assert f"{ref} points at a blob ({blob[:10]}), which has no paths to judge" in result.remote
        assert "blob_refs: allow" in result.remote


def test_blob_refs_allow_lets_a_blob_ref_through(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, POLICY.replace("rules:", "blob_refs: allow\nrules:"))
    blob = git("hash-object", "-w", "--stdin", cwd=clone.path, stdin=b"a public key\n").out.strip()
    assert clone.push(f"{blob}:refs/tags/key").code == 0


def test_a_commit_and_a_tree_in_one_push_are_both_judged(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    tree = tree_with(clone, "w.safetensors")
    clone.commit("ok", "docs/a.md")
    result = clone.push("HEAD:refs/heads/main", f"{tree}:refs/tags/t")
    assert result.code != 0
    assert "refs/tags/t adds w.safetensors" in result.remote
    assert "judged: refs/heads/main: 1 commit(s)" in result.remote

"""Replacement objects (`refs/replace/*`) and grafts never change what changegate judges.

A pusher who can create `refs/replace/<oid>` could otherwise make every git call of the
hook see a clean commit, tree or policy in place of the stored one. Every git process
changegate starts reads objects as stored; refs under refs/replace/ are judged like any
other ref.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server, git, policy_cli, protected

POLICY = """
version: 1
name: replace
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    return protected(tmp_path, POLICY)


def commit_with_weights(clone: Clone) -> str:
    return clone.commit("weights", "models/w.safetensors")


def weights_added_then_removed(clone: Clone) -> tuple[str, str]:
    """(the commit that adds weights, the tip that removes them again)."""
    hidden = commit_with_weights(clone)
    clone.git("rm", "-q", "models/w.safetensors")
    return hidden, clone.commit("remove the weights again")


def clean_commit(clone: Clone, base: str) -> str:
    tree = git("rev-parse", f"{base}^{{tree}}", cwd=clone.path).out.strip()
    return git("commit-tree", tree, "-p", base, "-m", "clean", cwd=clone.path).out.strip()


def test_a_replaced_commit_is_judged_as_stored(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    base = clone.head()
    bad = commit_with_weights(clone)
    clean = clean_commit(clone, base)
    clone.git("replace", bad, clean)
    assert clone.push(f"refs/replace/{bad}").code == 0  # the replacement itself is clean
    result = clone.push(f"{bad}:refs/heads/main")
    assert result.code != 0
    assert f"commit {bad[:10]} on refs/heads/main adds models/w.safetensors" in result.remote


def test_a_replaced_subtree_is_judged_as_stored(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    bad = commit_with_weights(clone)
    subtree = git("rev-parse", f"{bad}:models", cwd=clone.path).out.strip()
    clean = git("mktree", cwd=clone.path, stdin=b"").out.strip()
    clone.git("replace", subtree, clean)
    assert clone.push(f"refs/replace/{subtree}").code == 0
    result = clone.push(f"{bad}:refs/heads/main")
    assert result.code != 0
    assert "adds models/w.safetensors" in result.remote


def test_a_replaced_parent_cannot_hide_a_commit(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    base = clone.head()
    hidden, tip = weights_added_then_removed(clone)
    # the tip's replacement claims `base` as parent: a walk honouring it never meets `hidden`
    tree = git("rev-parse", f"{tip}^{{tree}}", cwd=clone.path).out.strip()
    fake = git("commit-tree", tree, "-p", base, "-m", "remove the weights again", cwd=clone.path).out.strip()
    clone.git("replace", tip, fake)
    assert clone.push(f"refs/replace/{tip}").code == 0
    result = clone.push(f"{tip}:refs/heads/main")
    assert result.code != 0
    assert f"commit {hidden[:10]} on refs/heads/main adds models/w.safetensors" in result.remote


def test_a_replacement_ref_is_judged_like_any_ref(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    base = clone.head()
    bad = commit_with_weights(clone)
    clean = clean_commit(clone, base)
    clone.git("replace", clean, bad)  # the replacement carries the weights
    result = clone.push(f"refs/replace/{clean}")
    assert result.code != 0
    assert f"on refs/replace/{clean} adds models/w.safetensors" in result.remote


def test_grafts_on_the_server_do_not_hide_commits(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    base = clone.head()
    hidden, tip = weights_added_then_removed(clone)
    (server.path / "info").mkdir(exist_ok=True)
    (server.path / "info" / "grafts").write_text(f"{tip} {base}\n")
    result = clone.push(f"{tip}:refs/heads/main")
    assert result.code != 0
    assert f"commit {hidden[:10]} on refs/heads/main adds models/w.safetensors" in result.remote


def test_a_replaced_policy_blob_does_not_judge(tmp_path: Path) -> None:
    strict = POLICY
    lax = "version: 1\nname: lax\nrules:\n  - id: nothing\n    refs: [refs/heads/none]\n    deny: [deletion]\n"
    server = Server(tmp_path, None, policy_ref="refs/heads/main:.changegate/policy.yml")
    admin = Clone(tmp_path, server, "admin")
    admin.write(".changegate/policy.yml", strict)
    admin.commit("policy")
    git("fetch", "-q", str(admin.path), "HEAD:refs/heads/main", cwd=server.path)  # seeded server-side
    blob = git("rev-parse", "HEAD:.changegate/policy.yml", cwd=admin.path).out.strip()
    lax_blob = git("hash-object", "-w", "--stdin", cwd=server.path, stdin=lax.encode()).out.strip()
    # a replacement already on the server (created outside any push): it must never judge
    git("update-ref", f"refs/replace/{blob}", lax_blob, cwd=server.path)
    clone = Clone(tmp_path, server)
    clone.commit("weights", "w.safetensors")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "policy 'replace'" in result.remote


def test_policy_check_in_a_clone_ignores_local_replacements(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    base = clone.head()
    bad = commit_with_weights(clone)
    clone.git("replace", bad, clean_commit(clone, base))
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                      "--ref", "refs/heads/main", "--old", base, "--new", bad, "--known-ref", "refs/remotes/**")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "adds models/w.safetensors" in proc.stdout

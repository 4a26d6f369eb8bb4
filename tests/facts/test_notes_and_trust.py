"""Facts for signed records: notes on trees (any fanout, or pushed in the same push) and the trust domain."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import notes
from engine.change import Actor, Change, Inputs, RefUpdate
from engine.facts.gitfacts import GitFacts, TrustError
from engine.git import Git
from engine.policy.source import PolicySource, from_file, resolve
from tests.helpers.repos import Clone, Server, git

ZERO = "0" * 40


def facts_for(repo: Path, updates: tuple[RefUpdate, ...] = (), *, policy: dict | None = None,
              source: PolicySource | None = None) -> GitFacts:
    return GitFacts(Git(str(repo)), Change(updates, Actor("ann", "git", "uid"), "push"),
                 inputs=Inputs(now=time.time()), policy=policy, source=source)


@pytest.mark.parametrize("fanout", [False, True])
def test_notes_on_a_tree_are_found_flat_or_fanned_out(tmp_path: Path, fanout: bool) -> None:
    repo = tmp_path / "r"
    git("init", "-q", str(repo), cwd=tmp_path)
    (repo / "a.txt").write_text("a\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "a", cwd=repo)
    tree = git("rev-parse", "HEAD^{tree}", cwd=repo).out.strip()
    repository = Git(str(repo / ".git"))
    notes.add(repository, "evidence", tree, b'{"first": 1}')
    notes.add(repository, "evidence", tree, b'{"second": 2}')
    if fanout:  # what git does once a notes tree grows large: aa/bbbb... paths
        commit = git("rev-parse", notes.NOTES_REFS["evidence"], cwd=repo).out.strip()
        blob = git("rev-parse", f"{commit}:{tree}", cwd=repo).out.strip()
        entry = f"100644 blob {blob}\t{tree[2:]}\n".encode()
        sub = git("mktree", cwd=repo, stdin=entry).out.strip()
        top = git("mktree", cwd=repo, stdin=f"040000 tree {sub}\t{tree[:2]}\n".encode()).out.strip()
        fanned = git("commit-tree", top, "-m", "fanout", cwd=repo).out.strip()
        git("update-ref", notes.NOTES_REFS["evidence"], fanned, cwd=repo)
        assert git("notes", "--ref", notes.NOTES_REFS["evidence"], "show", tree, cwd=repo).code == 0
    assert facts_for(repo / ".git").notes("evidence", tree) == [b'{"first": 1}', b'{"second": 2}']
    assert facts_for(repo / ".git").notes("approvals", tree) == []


def test_the_hook_reads_notes_pushed_in_the_same_push(tmp_path: Path) -> None:
    server = Server(tmp_path, 'version: 1\nrules: [{id: x, deny_paths: ["*.never"]}]\n')
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    tree = git("rev-parse", "HEAD^{tree}", cwd=clone.path).out.strip()
    notes.add(Git(str(clone.path / ".git")), "approvals", tree, b'{"signed": true}')
    pushed = git("rev-parse", notes.NOTES_REFS["approvals"], cwd=clone.path).out.strip()
    head = clone.head()
    # The server has neither the commit nor the notes yet: as in pre-receive, objects are
    # present (here: fetched) but refs still hold their old values.
    git("fetch", "-q", str(clone.path), f"{pushed}:refs/tmp/n", f"{head}:refs/tmp/h", cwd=server.path)
    git("update-ref", "-d", "refs/tmp/n", cwd=server.path)
    git("update-ref", "-d", "refs/tmp/h", cwd=server.path)
    update = RefUpdate(ZERO, pushed, notes.NOTES_REFS["approvals"].encode())
    assert facts_for(server.path, (update,)).notes("approvals", tree) == [b'{"signed": true}']
    assert facts_for(server.path).notes("approvals", tree) == []  # not on the server's refs


def test_trusted_files_come_from_the_protected_refs_current_value(tmp_path: Path) -> None:
    fallback = "version: 1\nrules: [{id: y, deny: [deletion]}]\n"
    server = Server(tmp_path, fallback, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", 'version: 1\ntrust: {allowed_signers: .changegate/signers}\n'
                                          'rules: [{id: x, deny_paths: ["*.never"]}]\n')
    clone.write(".changegate/signers", "ann@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm8\n")
    clone.commit("policy and signers")
    assert clone.push("HEAD:refs/heads/main").code == 0  # judged by the fallback: main has no policy yet
    repo = Git(str(server.path))
    source = resolve(repo, file=str(server.policy_file), ref_spec="refs/heads/main:.changegate/policy.yml")
    assert source.ref == "refs/heads/main"
    facts = facts_for(server.path, policy={"trust": {"allowed_signers": ".changegate/signers"}}, source=source)
    assert facts.trusted_file(".changegate/signers") is not None
    assert facts.trusted_file("missing") is None


def test_missing_or_unset_trust_is_an_explained_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\n")
    git("init", "-q", "--bare", str(tmp_path / "s.git"), cwd=tmp_path)
    source = from_file(str(policy))
    with pytest.raises(TrustError, match=r"names no trust\.allowed_signers"):
        facts_for(tmp_path / "s.git", policy={}, source=source).allowed_signers()
    with pytest.raises(TrustError, match="signers does not exist"):
        facts_for(tmp_path / "s.git", policy={"trust": {"allowed_signers": "signers"}},
                  source=source).allowed_signers()
    (tmp_path / "signers").write_text("not a valid line\n")
    with pytest.raises(TrustError):
        facts_for(tmp_path / "s.git", policy={"trust": {"allowed_signers": "signers"}},
                  source=source).allowed_signers()

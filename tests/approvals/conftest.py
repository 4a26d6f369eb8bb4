"""Fixtures of the approvals tests: real ed25519 keys, a protected bare repository whose
policy trusts some of them, and clones for the author and each approver."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.attest import KeyPair, make_key
from tests.helpers.fake_github import fake_github
from tests.helpers.repos import Clone, Server, policy_cli

__all__ = ["fake_github"]

NOTES = "refs/notes/changegate/approvals"
# principal -> key name; dave is trusted but not eligible; mallory is not trusted at all
PEOPLE = {"alice@example.com": "alice", "bob@example.com": "bob", "ann@example.com": "ann",
          "carol@sre.example.com": "carol", "dave@example.com": "dave"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("approver-keys")
    return {name: make_key(directory, name) for name in [*PEOPLE.values(), "mallory"]}


class Repo:
    """A protected server, the author's clone (Ann Author, ann@example.com) and approvers' clones."""

    def __init__(self, root: Path, policy: str, keys: dict[str, KeyPair]) -> None:
        self.root = root
        self.keys = keys
        (root / "allowed_signers").write_text("".join(
            f'{principal} namespaces="changegate-approval" {keys[name].public_line}\n'
            for principal, name in PEOPLE.items()))
        self.server = Server(root, policy)
        self.author = Clone(root, self.server, "author")
        self.author.commit("init", "README.md")
        assert self.author.push("HEAD:refs/heads/main").code == 0
        self._clones: dict[str, Clone] = {}

    def clone_of(self, person: str) -> Clone:
        if person not in self._clones:
            self._clones[person] = Clone(self.root, self.server, f"clone-{person}")
        return self._clones[person]

    def propose(self, *files: str, message: str = "change") -> str:
        """The author commits and pushes to a feature branch (not protected); returns the commit."""
        commit = self.author.commit(message, *files)
        assert self.author.push("HEAD:refs/heads/feature", "--force").code == 0
        return commit

    def approve(self, person: str, commit: str, *, key: str | None = None, ref: str = "refs/heads/main",
                extra: tuple[str, ...] = (), publish: bool = True) -> str:
        """`person` fetches, signs with their key (or `key`) via the real CLI, and pushes the notes."""
        clone = self.clone_of(person)
        clone.git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
        clone.git("fetch", "-q", "origin", f"+{NOTES}:{NOTES}", check=False)
        result = policy_cli("approve", commit, "--key", str(self.keys[key or PEOPLE[person]].path), "--ref", ref,
                            "--as", person, *extra, cwd=clone.path)
        assert result.returncode == 0, result.stderr
        if publish:
            pushed = clone.push(NOTES)
            assert pushed.code == 0, pushed.out
        return result.stdout

    def push_main(self, *extra: str) -> tuple[int, str]:
        result = self.author.push("HEAD:refs/heads/main", *extra)
        return result.code, result.remote

    def last_decision(self) -> dict[str, Any]:
        lines = self.server.audit_log.read_text().splitlines()
        record: dict[str, Any] = json.loads(lines[-1])
        return record


@pytest.fixture
def make_repo(tmp_path: Path, keys: dict[str, KeyPair]) -> Callable[[str], Repo]:
    def make(policy: str) -> Repo:
        return Repo(tmp_path, policy, keys)
    return make

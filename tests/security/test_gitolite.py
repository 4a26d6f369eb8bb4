"""Self-approval on a real Gitolite (issue 9, class 6): bob pushes through gitolite-shell as
Gitolite user bob, with an approval he signed as bob@example.com; the administrator's
identities file maps the two. Gitolite's own variables say who pushes, whatever else the
pusher's environment holds."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.attest import KeyPair, make_key
from tests.helpers.gitolite import Gitolite
from tests.helpers.repos import Clone, Result, git, policy_cli
from tests.helpers.servers import server_env

NOTES = "refs/notes/changegate/approvals"
POLICY = """
version: 1
name: gitolite
trust: {allowed_signers: allowed_signers, identities: identities.yml}
rules:
  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com, bob@example.com]}}
"""
IDENTITIES = """\
version: 1
people:
  alice: {users: [alice], principals: [alice@example.com]}
  bob: {users: [bob], principals: [bob@example.com]}
"""


@pytest.fixture(scope="session")
def gitolite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gitolite]:
    yield Gitolite(tmp_path_factory.mktemp("gitolite"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("gitolite-keys")
    return {name: make_key(directory, name) for name in ("alice", "bob")}


class Project:
    """A Gitolite repository protected by changegate, and a clone for each of alice and bob."""

    def __init__(self, gitolite: Gitolite, root: Path, keys: dict[str, KeyPair], name: str, *, mapped: bool) -> None:
        self.gitolite, self.keys = gitolite, keys
        self.repo = gitolite.create(name)
        (root / "policy.yml").write_text(POLICY if mapped else POLICY.replace(", identities: identities.yml", ""))
        (root / "allowed_signers").write_text("".join(
            f'{n}@example.com namespaces="changegate-approval" {keys[n].public_line}\n' for n in keys))
        (root / "identities.yml").write_text(IDENTITIES)
        self.policy = (root / "policy.yml").read_text()
        self.install(root)
        self.clones = {user: self._clone(root, name, user) for user in ("alice", "bob")}

    def install(self, root: Path, *extra: str) -> None:
        installed = policy_cli("hook", "install", "--repo", str(self.repo), "--policy", str(root / "policy.yml"),
                               *extra)
        assert installed.returncode == 0, installed.stderr
        assert os.path.islink(self.repo / "hooks" / "update")  # Gitolite keeps its own access-control hook

    def _clone(self, root: Path, name: str, user: str) -> Clone:
        clone = Clone.__new__(Clone)
        clone.path = root / f"clone-{user}"
        git("clone", "-q", self.gitolite.url(name), str(clone.path), cwd=root, env=self.gitolite.env(user))
        return clone

    def push(self, user: str, *refs: str, extra: dict[str, str] | None = None) -> Result:
        return self.clones[user].push(*refs, env=self.gitolite.env(user, extra))

    def approve(self, user: str, commit: str) -> None:
        clone = self.clones[user]
        clone.git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", env=self.gitolite.env(user))
        clone.git("fetch", "-q", "origin", f"+{NOTES}:{NOTES}", env=self.gitolite.env(user), check=False)
        signed = policy_cli("approve", commit, "--key", str(self.keys[user].path), "--ref", "refs/heads/main",
                            "--as", f"{user}@example.com", cwd=clone.path)
        assert signed.returncode == 0, signed.stderr
        assert self.push(user, NOTES).code == 0

    def last_decision(self) -> dict[str, object]:
        record: dict[str, object] = json.loads((self.repo / "changegate" / "audit.jsonl").read_text().splitlines()[-1])
        return record


_NUMBERS = itertools.count(1)  # one Gitolite per session: each test gets its own repository


@pytest.fixture(params=["mapped", "fallback"])
def project(gitolite: Gitolite, tmp_path: Path, keys: dict[str, KeyPair], request: pytest.FixtureRequest) -> Project:
    """With the identities file (bob is mapped), or without one (bob@... is bob by its local part)."""
    name = f"project-{next(_NUMBERS)}"
    project = Project(gitolite, tmp_path, keys, name, mapped=request.param == "mapped")
    bob = project.clones["bob"]
    bob.commit("init", "README.md")
    assert project.push("bob", "HEAD:refs/heads/main").code == 0
    bob.commit("new system prompt", "prompts/system.txt")
    assert project.push("bob", "HEAD:refs/heads/review").code == 0
    return project


def test_bobs_own_approval_does_not_count_and_alices_does(project: Project) -> None:
    change = project.clones["bob"].head()
    project.approve("bob", change)
    pushed = project.push("bob", "HEAD:refs/heads/main")
    assert pushed.code != 0, pushed.out
    why = ("identities.yml maps bob@example.com and the pusher's user name (gitolite GL_USER) 'bob' to the same "
           "person, bob" if "identities" in project.policy else
           "matched by the fallback: its local part 'bob' equals the pusher's user name 'bob', who cannot be mapped")
    assert f"ignored: bob@example.com approved their own change ({why}" in pushed.remote, pushed.remote
    assert project.last_decision()["actor"] == {"name": "bob", "server": "gitolite", "source": "GL_USER"}
    project.approve("alice", change)
    pushed = project.push("bob", "HEAD:refs/heads/main")
    assert pushed.code == 0, pushed.out
    assert project.last_decision()["actor"] == {"name": "bob", "server": "gitolite", "source": "GL_USER"}
    assert git("rev-parse", "refs/heads/main", cwd=project.repo).out.strip() == change


def test_other_servers_variables_in_the_pushers_environment_do_not_change_the_pusher(project: Project) -> None:
    project.approve("bob", project.clones["bob"].head())
    injected = {"GITHUB_USER_LOGIN": "alice", "GL_USERNAME": "alice", "GITEA_PUSHER_NAME": "alice"}
    pushed = project.push("bob", "HEAD:refs/heads/main", extra=injected)
    assert pushed.code != 0, pushed.out
    assert "bob@example.com approved their own change" in pushed.remote
    assert project.last_decision()["actor"] == {"name": "bob", "server": "gitolite", "source": "GL_USER"}


def test_a_second_complete_server_is_rejected_unless_gitolite_is_pinned(project: Project, tmp_path: Path) -> None:
    project.approve("alice", project.clones["bob"].head())  # enough, were bob the pusher
    forged = server_env("github-enterprise", "alice")  # every variable GHES would set, claiming alice
    pushed = project.push("bob", "HEAD:refs/heads/main", extra=forged)
    assert pushed.code != 0, pushed.out
    assert ("changegate: push rejected: cannot tell which git server runs this hook: the variables of "
            "github-enterprise and gitolite are all set") in pushed.remote
    assert project.last_decision()["error"] == "unknown-pusher"
    project.install(tmp_path, "--server", "gitolite")
    pushed = project.push("bob", "HEAD:refs/heads/main", extra=forged)
    assert pushed.code == 0, pushed.out  # alice approved; bob, not the forged alice, pushed
    assert project.last_decision()["actor"] == {"name": "bob", "server": "gitolite", "source": "GL_USER"}

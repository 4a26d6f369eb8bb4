"""changegate as a pre-commit hook (`.pre-commit-hooks.yaml`), run by the real `pre-commit` package at the
pre-push stage of a real clone pushing to a real bare repository that has the server hook installed.

pre-commit installs changegate from a git repository holding this source tree (as it would from
GitHub), into its own virtualenv, once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server, git

ROOT = Path(__file__).resolve().parents[2]
POLICY = """version: 1
name: team-policy
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
    message: "Model weights belong in the model registry."
  - id: no-release-branches
    refs: ["refs/heads/release/*"]
    deny: [creation]
"""
pytestmark = pytest.mark.slow


def pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    assert found.exists(), "pre-commit is not installed (it is in the test extra: pip install -e '.[test]')"
    return str(found)


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository of this source tree, as pre-commit would clone it from GitHub: (path, rev)."""
    repo = tmp_path_factory.mktemp("changegate-hook-repo")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listed):
        source, target = ROOT / os.fsdecode(name), repo / os.fsdecode(name)
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@example.com", "GIT_COMMITTER_NAME": "c",
           "GIT_COMMITTER_EMAIL": "c@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "changegate"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    return repo, rev


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


class Team:
    """A protected server whose main holds the policy, and a developer's clone using pre-commit."""

    def __init__(self, root: Path, hook_repo: tuple[Path, str], home: Path, policy: str = POLICY) -> None:
        self.server = Server(root, policy)
        self.clone = Clone(root, self.server)
        self.env = {"PRE_COMMIT_HOME": str(home)}
        repo, rev = hook_repo
        self.clone.write(".changegate/policy.yml", policy)
        # the three lines a user adds, under `repos:`
        self.clone.write(".pre-commit-config.yaml", f"repos:\n  - repo: {repo}\n    rev: {rev}\n"
                                                    "    hooks: [{id: changegate}]\n")
        self.clone.commit("set up changegate")
        assert self.push("HEAD:refs/heads/main").returncode == 0
        proc = subprocess.run([pre_commit(), "install", "--hook-type", "pre-push"], cwd=self.clone.path,
                              env={**os.environ, **self.env}, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def push(self, *refspecs: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "push", "origin", *refspecs], cwd=self.clone.path, capture_output=True,
                              text=True, env={**os.environ, **self.env}, timeout=900, check=False)


@pytest.fixture
def team(tmp_path: Path, hook_repo: tuple[Path, str], pre_commit_home: Path) -> Team:
    return Team(tmp_path, hook_repo, pre_commit_home)


def test_a_denied_push_is_stopped_before_it_is_sent(team: Team) -> None:
    team.clone.commit("add weights", "models/llama.gguf")
    proc = team.push("HEAD:refs/heads/feature")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "changegate" in out and "no-weights" in out and "models/llama.gguf" in out
    assert "remote: " not in out  # stopped by the clone's hook: the server was never asked
    assert team.server.rev("refs/heads/feature") is None


def test_an_allowed_push_goes_through(team: Team) -> None:
    team.clone.commit("docs", "docs/usage.md")
    proc = team.push("HEAD:refs/heads/feature")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert team.server.rev("refs/heads/feature") == team.clone.head()


def test_a_new_branch_is_judged_as_a_creation(team: Team) -> None:
    """pre-commit gives a range for a new branch; the hook asks the remote, which has no such ref."""
    team.clone.commit("notes", "NOTES.md")
    proc = team.push("HEAD:refs/heads/release/1.0")
    assert proc.returncode != 0
    assert "no-release-branches" in proc.stdout + proc.stderr
    assert team.server.rev("refs/heads/release/1.0") is None


def test_the_push_cannot_weaken_the_policy_that_judges_it(team: Team) -> None:
    """The policy is the remote's main, not the clone's copy the push edits."""
    team.clone.write(".changegate/policy.yml", POLICY.replace('"*.gguf"', '"*.nothing"'))
    team.clone.commit("relax the policy and add weights", "model.gguf")
    proc = team.push("HEAD:refs/heads/main")
    assert proc.returncode != 0
    assert "no-weights" in proc.stdout + proc.stderr
    assert team.server.rev("refs/heads/main") != team.clone.head()


def test_the_policy_ref_can_be_configured(team: Team) -> None:
    """git config changegate.policyRef: a protected ref other than the default branch."""
    strict = POLICY + "  - id: no-csv\n    deny_paths: ['*.csv']\n"
    git("checkout", "-q", "--orphan", "policy", cwd=team.clone.path)
    git("rm", "-q", "-rf", ".", cwd=team.clone.path)
    team.clone.write("policy.yml", strict)
    team.clone.commit("the policy branch")
    assert team.push("--no-verify", "HEAD:refs/heads/policy").returncode == 0  # no pre-commit config there
    git("checkout", "-q", "main", cwd=team.clone.path)
    git("config", "changegate.policyRef", "refs/heads/policy:policy.yml", cwd=team.clone.path)
    team.clone.commit("data", "data/train.csv")
    proc = team.push("HEAD:refs/heads/feature")
    assert proc.returncode != 0 and "no-csv" in proc.stdout + proc.stderr


def test_as_gits_own_pre_push_hook_every_pushed_ref_is_judged(tmp_path: Path) -> None:
    """Without pre-commit (which hands a hook only the first ref), git's lines are all judged."""
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY)
    clone.commit("policy")
    assert clone.push("HEAD:refs/heads/main").code == 0
    hook = clone.path / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m engine pre-push --repo \"$OLDPWD\" \"$@\"\n")
    hook.chmod(0o755)
    clean = clone.commit("docs", "docs.md")
    clone.commit("weights", "w.gguf")
    proc = subprocess.run(["git", "push", "origin", f"{clean}:refs/heads/docs", "HEAD:refs/heads/feature"],
                          cwd=clone.path, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "no-weights" in out and "w.gguf" in out and "remote: " not in out
    assert server.rev("refs/heads/docs") is None and server.rev("refs/heads/feature") is None

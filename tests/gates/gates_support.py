"""A real repository with one change to judge, and the real `policy check` run on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.repos import git, policy_cli


class Repo:
    """A work tree with `main` at a base commit and a change commit to merge or deploy."""

    def __init__(self, root: Path, files: dict[str, str] | None = None) -> None:
        self.path = root / "repo"
        root.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", "main", str(self.path), cwd=root)
        for name, text in (files or {}).items():
            self.write(name, text)
        self.write("README.md", "base\n")
        self.base = self.commit("base")
        self.write("prompts/system.txt", "be helpful\n")
        self.head = self.commit("change")
        git("update-ref", "refs/heads/main", self.base, cwd=self.path)
        git("checkout", "-q", "--detach", self.head, cwd=self.path)

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "-m", message, cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path).out.strip()

    def tree(self, rev: str) -> str:
        return git("rev-parse", f"{rev}^{{tree}}", cwd=self.path).out.strip()

    def check(self, *, policy: Path | None = None, policy_ref: str | None = None, stage: str = "merge",
              now: float | None = None, cwd: Path | None = None) -> Checked:
        args = ["check", "--repo", str(self.path), "--ref", "refs/heads/main", "--old", self.base,
                "--new", self.head, "--stage", stage, "--format", "json"]
        if policy is not None:
            args += ["--policy", str(policy)]
        if policy_ref is not None:
            args += ["--policy-ref", policy_ref]
        if now is not None:
            args += ["--now", repr(now)]
        return Checked(policy_cli(*args, cwd=cwd))


class Checked:
    """A finished `policy check --format json`: exit code and outcomes by rule id."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        self.code = proc.returncode
        try:
            self.report: dict[str, Any] = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"no JSON report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None
        self.outcomes = {o["rule"]: o for o in self.report["outcomes"]}

    def __getitem__(self, rule: str) -> dict[str, Any]:
        return self.outcomes[rule]


def write_policy(directory: Path, body: str, *, name: str = "policy.yml") -> Path:
    path = directory / name
    path.write_text(body)
    return path

"""Real repositories for tests: a bare server with the hook installed, and a clone to push from.

Git is never mocked: every push goes through `git push`, receive-pack and the hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

ENV = {
    "GIT_AUTHOR_NAME": "Ann Author", "GIT_AUTHOR_EMAIL": "ann@example.com",
    "GIT_COMMITTER_NAME": "Ann Author", "GIT_COMMITTER_EMAIL": "ann@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Result(NamedTuple):
    code: int
    out: str  # stdout + stderr, decoded leniently

    @property
    def remote(self) -> str:
        """What the pusher sees from the hook, without git's `remote: ` prefix and padding."""
        return "\n".join(line[len("remote: "):].rstrip() for line in self.out.splitlines()
                         if line.startswith("remote: "))


def git(*args: str | bytes, cwd: Path | str, env: Mapping[str, str] | None = None,
        check: bool = True, stdin: bytes | None = None) -> Result:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **ENV, **(env or {})},
                          input=stdin, capture_output=True, check=False)
    result = Result(proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace"))
    if check and proc.returncode != 0:
        raise AssertionError(f"git {args!r} failed ({proc.returncode}):\n{result.out}")
    return result


def policy_cli(*args: str, cwd: Path | str | None = None, stdin: bytes | None = None,
               env: Mapping[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """The real `policy` command, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False,
                          timeout=timeout)


class Server:
    """A bare repository protected by changegate."""

    def __init__(self, root: Path, policy: str | None = None, *, policy_ref: str | None = None) -> None:
        self.path = root / "server.git"
        git("init", "-q", "--bare", "-b", "main", str(self.path), cwd=root)
        self.policy_file = root / "policy.yml"
        args = ["hook", "install", "--repo", str(self.path)]
        if policy is not None:
            self.policy_file.write_text(policy)
            args += ["--policy", str(self.policy_file)]
        if policy_ref:
            args += ["--policy-ref", policy_ref]
        proc = policy_cli(*args)
        assert proc.returncode == 0, proc.stderr

    @property
    def audit_log(self) -> Path:
        return self.path / "changegate" / "audit.jsonl"

    def rev(self, ref: str) -> str | None:
        result = git("rev-parse", "--verify", "--quiet", ref, cwd=self.path, check=False)
        return result.out.strip() if result.code == 0 else None


class Clone:
    """A developer's clone of a Server."""

    def __init__(self, root: Path, server: Server, name: str = "work") -> None:
        self.path = root / name
        git("clone", "-q", str(server.path), str(self.path), cwd=root)

    def write(self, path: str | bytes, content: bytes | str = b"x\n") -> None:
        raw = os.fsencode(path) if isinstance(path, str) else path
        full = os.path.join(os.fsencode(self.path), raw)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)

    def commit(self, message: str = "change", *files: str | bytes, allow_empty: bool = False) -> str:
        for file in files:
            self.write(file, f"{message}\n")
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "-m", message, *(["--allow-empty"] if allow_empty else []), cwd=self.path)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.path).out.strip()

    def git(self, *args: str | bytes, check: bool = True, env: Mapping[str, str] | None = None) -> Result:
        return git(*args, cwd=self.path, check=check, env=env)

    def push(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return git("push", "--porcelain", "origin", *args, cwd=self.path, check=False, env=env)


def raw_push(server: Server, clone: Clone, commands: list[str], send: list[str],
             env: Mapping[str, str] | None = None) -> Result:
    """A push as a client of one's own makes it: each command `<old> <new> <ref>` goes to git
    receive-pack exactly as given, where `git push` would send the old value the server advertised,
    with a pack of the objects `send` selects (rev-list arguments such as NEW and ^OLD; none: an
    empty pack). Protocol v0 with report-status only, so the hook's words arrive on stderr and
    git's verdict per ref in the report (`ok <ref>` / `ng <ref> <why>`), both in `out`."""
    pack = subprocess.run(["git", "pack-objects", "--stdout", "-q", "--revs"], cwd=clone.path,
                          env={**os.environ, **ENV}, input="".join(f"{rev}\n" for rev in send).encode(),
                          capture_output=True, check=True).stdout
    lines = [c.encode() + (b"\0report-status" if not i else b"") + b"\n" for i, c in enumerate(commands)]
    request = b"".join(b"%04x" % (len(line) + 4) + line for line in lines) + b"0000" + pack
    proc = subprocess.run(["git", "receive-pack", str(server.path)], input=request, capture_output=True,
                          env={**os.environ, **ENV, **(env or {})}, check=False)
    return Result(proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace"))


def protected(root: Path, policy: str, env: Mapping[str, str] | None = None) -> tuple[Server, Clone]:
    """A server protected by `policy` and a clone whose first commit is already on main (pushed
    with `env`, e.g. a server's pusher identity)."""
    server = Server(root, policy)
    clone = Clone(root, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main", env=env).code == 0
    return server, clone

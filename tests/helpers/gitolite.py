"""A real Gitolite 3 (Debian's gitolite3) in a temporary HOME, pushed to as different users.

`gitolite setup -pk admin.pub` makes the server; an ssh stand-in (GIT_SSH_COMMAND) does
what sshd's `command=` line in authorized_keys does: it runs gitolite-shell with the
authenticated user's name, SSH_CONNECTION and SSH_ORIGINAL_COMMAND. Gitolite's own
access rules and its own `update` hook then apply, and a repository's pre-receive hook
sees Gitolite's environment (GL_USER, GL_REPO, GL_BINDIR ...). Like sshd with
`AcceptEnv`, the stand-in passes the pusher's environment through, so a test can inject
another server's variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.attest import make_key
from tests.helpers.repos import git

SHELL = "/usr/share/gitolite3/gitolite-shell"
USER_VARIABLE = "GITOLITE_TEST_PUSHER"  # read by the ssh stand-in: who "authenticated"
STAND_IN = """#!/bin/sh
# ssh stand-in: run the remote command ($last argument) as sshd would for gitolite
for last; do :; done
HOME={home} SSH_CONNECTION="127.0.0.1 40000 127.0.0.1 22" SSH_ORIGINAL_COMMAND="$last" \\
    exec {shell} "${{{user}:?who is pushing}}"
"""


class Gitolite:
    """A Gitolite server owned by the test user, with users alice and bob (and admin)."""

    def __init__(self, root: Path) -> None:
        if shutil.which("gitolite") is None or not os.access(SHELL, os.X_OK):
            raise RuntimeError("Gitolite 3 is not installed: run scripts/ensure-gitolite")
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        keys = root / "keys"
        keys.mkdir()
        self.users = ("alice", "bob")
        for user in ("admin", *self.users):
            make_key(keys, user)
        setup = subprocess.run(["gitolite", "setup", "-pk", str(keys / "admin.pub")], capture_output=True,
                               text=True, env=self._server_env(), check=False)
        assert setup.returncode == 0, setup.stderr
        self.ssh = root / "ssh"
        self.ssh.write_text(STAND_IN.format(home=self.home, shell=SHELL, user=USER_VARIABLE))
        self.ssh.chmod(0o755)
        self.admin = root / "gitolite-admin"
        git("clone", "-q", self.url("gitolite-admin"), str(self.admin), cwd=root, env=self.env("admin"))
        for user in self.users:
            shutil.copy(keys / f"{user}.pub", self.admin / "keydir" / f"{user}.pub")
        self._repos: list[str] = []

    def _server_env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home)}

    def env(self, user: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of `user`'s git commands (plus `extra`, passed through to the server)."""
        return {"GIT_SSH_COMMAND": str(self.ssh), USER_VARIABLE: user, **(extra or {})}

    def url(self, repo: str) -> str:
        return f"git@gitolite.test:{repo}"

    def path(self, repo: str) -> Path:
        return self.home / "repositories" / f"{repo}.git"

    def create(self, repo: str) -> Path:
        """A new repository alice and bob may push to (rewind too), by a push to gitolite-admin."""
        self._repos.append(repo)
        conf = "".join(f"repo {name}\n    RW+ = alice bob\n\n" for name in self._repos)
        (self.admin / "conf" / "gitolite.conf").write_text(
            "repo gitolite-admin\n    RW+ = admin\n\n" + conf)
        git("add", "-A", cwd=self.admin)
        git("commit", "-q", "-m", f"add {repo}", cwd=self.admin)
        git("push", "-q", "origin", "master", cwd=self.admin, env=self.env("admin"))
        assert self.path(repo).is_dir()
        return self.path(repo)

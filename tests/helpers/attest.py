"""Real OpenSSH keys and signed envelopes for the engine.attest tests (no fakes)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.attest import PublicKey, Statement, Subject

SSH_KEYGEN = shutil.which("ssh-keygen") or "ssh-keygen"
TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree
NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
PREDICATE = "https://changegate.dev/test-predicate/v1"


def ssh_keygen(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ssh-keygen with an argv list; the result is returned, never checked."""
    return subprocess.run(
        [SSH_KEYGEN, *map(str, args)], input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, timeout=60, check=False,
    )


@dataclass(frozen=True)
class KeyPair:
    path: Path  # private key; the public key is path + ".pub"
    public_line: str  # "ssh-ed25519 AAAA..." as ssh-keygen wrote it, comment removed
    fingerprint: str  # as `ssh-keygen -lf` prints it

    @property
    def public(self) -> PublicKey:
        key_type, blob = self.public_line.split()
        return PublicKey(key_type, base64.b64decode(blob))


def make_key(directory: Path, name: str, *, key_type: str = "ed25519", passphrase: str = "") -> KeyPair:
    """A fresh key made by ssh-keygen itself."""
    path = directory / name
    args: list[str | Path] = ["-q", "-t", key_type, "-N", passphrase, "-C", f"{name}@test", "-f", path]
    if key_type == "rsa":
        args[3:3] = ["-b", "2048"]
    made = ssh_keygen(*args)
    assert made.returncode == 0, made.stderr
    listed = ssh_keygen("-lf", f"{path}.pub")
    assert listed.returncode == 0, listed.stderr
    public_line = " ".join(Path(f"{path}.pub").read_text().split()[:2])
    return KeyPair(path, public_line, listed.stdout.split()[1])


def statement(tree: str = TREE, **predicate: Any) -> Statement:
    return Statement((Subject.git_tree(tree, "repo"),), PREDICATE, predicate or {"result": "passed"})


def envelope_dict(envelope: bytes) -> dict[str, Any]:
    value = json.loads(envelope)
    assert isinstance(value, dict)
    return value

"""Shared setup for the evidence tests: real keys, a protected server, the real CLI."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.attest import KeyPair
from tests.helpers.repos import Clone, Server, policy_cli

NOTES = "refs/notes/changegate/evidence"

POLICY = """
version: 1
name: evidence-test
trust: {allowed_signers: allowed_signers}
rules:
  - id: dry-run-passed
    refs: ["refs/heads/main"]
    when: {paths: ["models/**", "prompts/**"]}
    require:
      evidence: {type: dry-run, result: passed, max_age: 7d, signers: [ci-dry-run], env: staging}
"""


def allowed_signers(ci: KeyPair, dev: KeyPair) -> str:
    """ci may sign evidence as ci-dry-run; dev is trusted, but as another principal."""
    return (f'ci-dry-run namespaces="changegate-evidence" {ci.public_line}\n'
            f"dev@example.com {dev.public_line}\n")


def protected(root: Path, ci: KeyPair, dev: KeyPair, policy: str = POLICY) -> tuple[Server, Clone]:
    """A server judging by `policy` with allowed_signers beside it, and a clone with main pushed."""
    server = Server(root, policy)
    (root / "allowed_signers").write_text(allowed_signers(ci, dev))
    clone = Clone(root, server)
    clone.commit("init", "README.md")
    pushed = clone.push("HEAD:refs/heads/main")
    assert pushed.code == 0, pushed.out
    return server, clone


def dry_run(clone: Clone, key: KeyPair, *args: str, cmd: tuple[str, ...] = ("true",),
            attach: bool = True) -> subprocess.CompletedProcess[str]:
    """`policy dry-run` as a user runs it in the clone."""
    flags = ["--attach"] if attach else []
    return policy_cli("dry-run", "--key", str(key.path), *flags, *args, "--", *cmd, cwd=clone.path)


def create(clone: Clone, key: KeyPair, output: Path, *args: str, rev: str = "HEAD",
           cmd: tuple[str, ...] = ("python", "run_model.py", "--dry-run")) -> bytes:
    """`policy evidence create` for a result that already exists; returns the envelope."""
    log = output.with_suffix(".log")
    log.write_text("dry run output\n")
    made = policy_cli("evidence", "create", "--key", str(key.path), "--rev", rev, "--log", str(log),
                      "-o", str(output), *args, "--", *cmd, cwd=clone.path)
    assert made.returncode == 0, made.stderr
    return output.read_bytes().strip()


def attach(clone: Clone, envelope: bytes, path: Path) -> None:
    path.write_bytes(envelope + b"\n")
    done = policy_cli("evidence", "attach", str(path), cwd=clone.path)
    assert done.returncode == 0, done.stderr


def tree(clone: Clone, rev: str = "HEAD") -> str:
    return clone.git("rev-parse", f"{rev}^{{tree}}").out.strip()


def decode(envelope: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(envelope, statement) as JSON objects."""
    outer = json.loads(envelope)
    return outer, json.loads(base64.b64decode(outer["payload"]))


def with_payload(envelope: bytes, statement: dict[str, Any]) -> bytes:
    """The same envelope and signatures around another payload: what an attacker would edit."""
    outer = json.loads(envelope)
    outer["payload"] = base64.b64encode(json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()).decode()
    return json.dumps(outer).encode()


def push_with_notes(clone: Clone, ref: str = "refs/heads/main") -> Any:
    return clone.push(f"HEAD:{ref}", NOTES)

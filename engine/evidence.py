"""Dry-run evidence: the predicate, its statement, the artifact digests it records, and
what a judge concluded about a candidate (`Accepted` or `Rejected`).

Evidence is an in-toto Statement v1 whose subject is a git *tree* (a squash, merge or
rebase that keeps the tree keeps the evidence), with the changegate dry-run predicate,
in a DSSE envelope signed with an OpenSSH ed25519 key. It reaches a judge as a line of
the git note on that tree in refs/notes/changegate/evidence, or as a file (a CI artifact):
engine.facts.evidence finds the candidates, engine.records.evidence verifies each one.

Cheap to import (the push hook imports it): the standard library pieces used here are
imported where needed, and engine.attest (and cryptography behind it) only when a
statement is built.

The predicate (predicateType urn:changegate:predicate:dry-run:v1), lowerCamelCase as
in-toto predicates are::

    {"command": ["docker", "exec", "dry-run-env", "python", "run_model.py", "--dry-run"],
     "env": "staging",                       # omitted when no environment was named
     "commit": "<the commit whose tree was dry-run>",
     "exitCode": 0, "result": "passed",      # passed iff the exit code is 0
     "startedOn": "2026-06-01T12:00:00Z", "finishedOn": "2026-06-01T12:03:05Z",
     "durationSeconds": 185.2,
     "log": {"name": "dry-run.log", "digest": {"sha256": "..."}, "size": 5120},
     "metrics": {...},                       # optional: the --metrics JSON object
     "artifacts": [{"name": "models/w.safetensors", "digest": {"sha256": "..."},
                    "lfsPointer": false}]}   # optional: --artifact digests
"""

from __future__ import annotations

from engine.times import format_age, parse_rfc3339, rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, NamedTuple

    from engine.attest import Statement
else:
    from engine.lighttuple import NamedTuple

PREDICATE_DRY_RUN = "urn:changegate:predicate:dry-run:v1"
NOTES_KIND = "evidence"
SUBJECT_NAME = "git-tree"
RESULTS = ("passed", "failed")
LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"


class Accepted(NamedTuple):
    """Evidence that meets every requirement: where it came from, the tree it proves, what it says."""

    source: str  # "note on tree abc123…" or "file PATH" (with ", line N" when a file holds several)
    tree: str  # the tree the evidence is accepted for (the judged tree)
    predicate: dict[str, Any]
    signers: tuple[str, ...]  # allowed_signers principals whose keys signed it


class Rejected(NamedTuple):
    """A candidate that does not count, and why.

    reason: malformed, wrong-payload-type, wrong-type, unknown-key, bad-signature,
    wrong-signer, namespace-not-allowed, key-expired, key-not-yet-valid, wrong-tree,
    failed-result, wrong-result, wrong-env, expired, future.
    """

    source: str
    reason: str
    detail: str


# --------------------------------------------------------------------------- building evidence

def artifact_digest(path: str) -> tuple[str, bool]:
    """(sha256 hex, is an LFS pointer) of a file: its bytes' sha256, or for a git-LFS pointer
    file the `oid sha256:` it names, which is the sha256 of the real content it stands for."""
    import hashlib

    with open(path, "rb") as f:
        head = f.read(1024)
        if head.startswith(LFS_SPEC) and len(head) < 1024:
            for line in head.decode("utf-8", "replace").splitlines():
                key, _, value = line.partition(" ")
                if key == "oid" and value.startswith("sha256:") and _is_hex(value[7:], 64):
                    return value[7:], True
        digest = hashlib.sha256(head)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), False


def artifact_entry(path: str, name: str | None = None) -> dict[str, Any]:
    sha256, lfs = artifact_digest(path)
    return {"name": name or path, "digest": {"sha256": sha256}, "lfsPointer": lfs}


def build_predicate(*, command: Sequence[str], env: str | None, commit: str, exit_code: int,
                    started: float, finished: float, log_sha256: str, log_size: int,
                    metrics: Mapping[str, Any] | None = None,
                    artifacts: Sequence[Mapping[str, Any]] = (), result: str | None = None,
                    signal: int | None = None) -> dict[str, Any]:
    """The dry-run predicate; `result` defaults to passed iff the exit code is 0."""
    predicate: dict[str, Any] = {
        "command": list(command),
        "commit": commit,
        "exitCode": exit_code,
        "result": result or ("passed" if exit_code == 0 else "failed"),
        "startedOn": rfc3339(started),
        "finishedOn": rfc3339(finished),
        "durationSeconds": round(max(finished - started, 0.0), 3),
        "log": {"name": "dry-run.log", "digest": {"sha256": log_sha256}, "size": log_size},
    }
    if env:
        predicate["env"] = env
    if signal is not None:
        predicate["signal"] = signal
    if metrics is not None:
        predicate["metrics"] = dict(metrics)
    if artifacts:
        predicate["artifacts"] = [dict(a) for a in artifacts]
    return predicate


def dry_run_statement(tree: str, predicate: Mapping[str, Any]) -> Statement:
    from engine.attest import Statement, Subject

    return Statement((Subject.git_tree(tree, SUBJECT_NAME),), PREDICATE_DRY_RUN, dict(predicate))


def predicate_problems(predicate: Mapping[str, Any]) -> list[str]:
    """What makes a dry-run predicate unusable (the fields a judge relies on)."""
    problems = []
    if predicate.get("result") not in RESULTS:
        problems.append(f"result is {predicate.get('result')!r}, not passed or failed")
    if parse_rfc3339(predicate.get("finishedOn")) is None:
        problems.append(f"finishedOn {predicate.get('finishedOn')!r} is not an RFC 3339 time with a zone")
    if "env" in predicate and not isinstance(predicate["env"], str):
        problems.append("env is not a string")
    if "metrics" in predicate and not isinstance(predicate["metrics"], dict):
        problems.append("metrics is not a JSON object")
    artifacts = predicate.get("artifacts", [])
    if not isinstance(artifacts, list) or not all(
            isinstance(a, dict) and isinstance(a.get("digest"), dict) for a in artifacts):
        problems.append("artifacts is not a list of {name, digest} objects")
    return problems


# --------------------------------------------------------------------------- deploy side

def recorded_artifacts(accepted: Iterable[Accepted]) -> dict[str, list[str]]:
    """sha256 -> "NAME (source)" for every artifact digest the accepted evidence records."""
    recorded: dict[str, list[str]] = {}
    for evidence in accepted:
        for artifact in evidence.predicate.get("artifacts", []):
            sha256 = artifact.get("digest", {}).get("sha256")
            if isinstance(sha256, str):
                recorded.setdefault(sha256, []).append(f"{artifact.get('name', '?')} ({evidence.source})")
    return recorded


# --------------------------------------------------------------------------- showing evidence

def describe(predicate: Mapping[str, Any], *, now: float | None = None) -> list[str]:
    """A predicate, readably: one `label: value` line per field a reviewer cares about."""
    import json
    import shlex

    lines = []
    command = predicate.get("command")
    if isinstance(command, list):
        lines.append(f"command:   {shlex.join(str(c) for c in command)}")
    lines.append(f"env:       {predicate.get('env', '(none)')}")
    lines.append(f"result:    {predicate.get('result')} (exit code {predicate.get('exitCode')}"
                 + (f", signal {predicate['signal']}" if "signal" in predicate else "") + ")")
    if "commit" in predicate:
        lines.append(f"commit:    {predicate['commit']}")
    finished = parse_rfc3339(predicate.get("finishedOn"))
    age = f" ({format_age(now - finished)} ago)" if now is not None and finished is not None else ""
    lines.append(f"started:   {predicate.get('startedOn')}")
    lines.append(f"finished:  {predicate.get('finishedOn')}{age}")
    if "durationSeconds" in predicate:
        lines.append(f"duration:  {predicate['durationSeconds']}s")
    log = predicate.get("log")
    if isinstance(log, dict):
        lines.append(f"log:       sha256:{log.get('digest', {}).get('sha256')} ({log.get('size')} bytes)")
    for artifact in predicate.get("artifacts", []) if isinstance(predicate.get("artifacts"), list) else []:
        kind = " (LFS pointer oid)" if artifact.get("lfsPointer") else ""
        lines.append(f"artifact:  {artifact.get('name')} sha256:{artifact.get('digest', {}).get('sha256')}{kind}")
    if isinstance(predicate.get("metrics"), dict):
        text = json.dumps(predicate["metrics"], sort_keys=True)
        lines.append(f"metrics:   {text if len(text) <= 200 else text[:197] + '...'}")
    return lines


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


__all__ = [
    "PREDICATE_DRY_RUN", "Accepted", "Rejected", "artifact_digest", "artifact_entry", "build_predicate", "describe",
    "dry_run_statement", "predicate_problems", "recorded_artifacts",
]

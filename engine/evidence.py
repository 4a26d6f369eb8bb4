"""Dry-run evidence: the predicate, building statements, finding and judging candidates.

Evidence is an in-toto Statement v1 whose subject is a git *tree* (a squash, merge or
rebase that keeps the tree keeps the evidence), with the changegate dry-run predicate,
in a DSSE envelope signed with an OpenSSH ed25519 key. It reaches a judge as a line of
the git note on that tree in refs/notes/changegate/evidence, or as a file (a CI artifact).

Cheap to import (the push hook imports it): the standard library pieces used here are
imported where needed, and engine.attest (and cryptography behind it) only when there
is a candidate to verify.

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
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any, NamedTuple

    from engine.attest import AllowedSigners, Statement
    from engine.facts.interface import Facts
    from engine.policy.patterns import Matcher
else:
    from engine.record import NamedTuple

PREDICATE_DRY_RUN = "urn:changegate:predicate:dry-run:v1"
NOTES_KIND = "evidence"
SUBJECT_NAME = "git-tree"
RESULTS = ("passed", "failed")
CLOCK_SKEW = 300.0  # seconds a signer's clock may run ahead of the judge's
MAX_CANDIDATES = 1000  # envelopes judged per tree; beyond that, counted and left out
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


# Reasons from engine.attest (its Reason values) under the names evidence reports.
_SIGNATURE_REASONS = {
    "malformed-envelope": "malformed", "invalid-statement": "malformed",
    "wrong-payload-type": "wrong-payload-type", "wrong-predicate-type": "wrong-type",
    "unknown-key": "unknown-key", "bad-signature": "bad-signature",
    "principal-not-allowed": "wrong-signer", "namespace-not-allowed": "namespace-not-allowed",
    "key-expired": "key-expired", "key-not-yet-valid": "key-not-yet-valid",
}


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


def envelopes_in(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, envelope JSON) in a file: one JSON document (pretty-printed or not),
    a JSON list of envelopes, or JSON lines (one envelope per line, as notes store them)."""
    import json

    try:
        whole = json.loads(data)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return [(1, data.strip())]
    if isinstance(whole, list):
        return [(i, json.dumps(e).encode()) for i, e in enumerate(whole, start=1)]
    return [(n, line.strip()) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]


def envelope_line(envelope: bytes) -> bytes:
    """One-line JSON of an envelope (as a note stores it); the signed payload is unchanged."""
    from engine.attest import parse_envelope

    return parse_envelope(envelope).to_json()


def claimed_trees(envelope: bytes) -> list[str]:
    """The gitTree subjects an envelope claims, read WITHOUT verifying it (to file it as a note)."""
    from engine.attest import parse_envelope, parse_statement

    return list(parse_statement(parse_envelope(envelope).payload).digests("gitTree"))


# --------------------------------------------------------------------------- judging one envelope

def judge_envelope(raw: bytes, source: str, *, allowed: AllowedSigners, now: float, tree: str | None,
                   result: str | None = "passed", env: str | None = None, max_age: float | None = None,
                   signers: Sequence[str] | None = None,
                   subtrees: Callable[[str], str | None] | None = None) -> Accepted | Rejected:
    """Accept `raw` only if a key allowed in `allowed` (for one of `signers`, when given) signed a
    dry-run statement about `tree` (or, with `subtrees`, about a tree whose listed subtrees are
    identical: subtrees(other) returns None then, else what differs) that meets the rest.
    `tree` None skips the tree check (a file verified on its own)."""
    import datetime as dt

    from engine.attest import NAMESPACE_EVIDENCE, EnvelopeRejected, Verified, verify_envelope

    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    verified: Verified | None = None
    refusals: list[EnvelopeRejected] = []
    tried: list[str | None] = list(signers) if signers else [None]
    for principal in tried:
        try:
            verified = verify_envelope(raw, allowed, namespace=NAMESPACE_EVIDENCE, now=moment,
                                       principal=principal, predicate_type=PREDICATE_DRY_RUN)
            break
        except EnvelopeRejected as exc:
            refusals.append(exc)
    if verified is None:
        worst = max(refusals, key=lambda e: _SIGNATURE_ORDER.index(e.reason.value)
                    if e.reason.value in _SIGNATURE_ORDER else -1)
        detail = worst.message
        if worst.reason.value == "principal-not-allowed" and signers:
            detail = f"signed by a key in {allowed.source}, but not one listed for {_names(signers)}"
        return Rejected(source, _SIGNATURE_REASONS.get(worst.reason.value, worst.reason.value), detail)
    statement = verified.statement
    predicate = dict(statement.predicate)
    principals = _principals(verified, signers)
    problems = predicate_problems(predicate)
    if problems:
        return Rejected(source, "malformed", "signed, but its predicate is unusable: " + "; ".join(problems))
    subjects = statement.digests("gitTree")
    if not subjects:
        return Rejected(source, "malformed", "signed, but its subject has no gitTree digest")
    failures: list[tuple[str, str]] = []
    if tree is not None and tree not in subjects:
        differences = [(s, subtrees(s)) for s in subjects] if subtrees is not None else []
        if not any(d is None for _, d in differences):
            why = "; ".join(f"{_short(s)}: {d}" for s, d in differences) if differences else ""
            failures.append(("wrong-tree", f"it is for tree {', '.join(_short(s) for s in subjects)}, "
                                           f"not the judged tree {_short(tree)}"
                                           + (f" (listed paths differ: {why})" if why else "")))
    if result is not None and predicate["result"] != result:
        failures.append(("failed-result" if predicate["result"] == "failed" else "wrong-result",
                         f"the dry run {predicate['result']} (exit code {predicate.get('exitCode', '?')}); "
                         f"{result} is required"))
    if env is not None and predicate.get("env") != env:
        seen = f"environment {predicate['env']!r}" if "env" in predicate else "no environment"
        failures.append(("wrong-env", f"it ran in {seen}; {env!r} is required"))
    finished = parse_rfc3339(predicate["finishedOn"])
    assert finished is not None
    age = now - finished
    if age < -CLOCK_SKEW:
        failures.append(("future", f"it finished at {predicate['finishedOn']}, "
                                   f"{format_age(age)} in the future (the signer's clock is wrong?)"))
    elif max_age is not None and age > max_age:
        failures.append(("expired", f"it finished at {predicate['finishedOn']}, {format_age(age)} ago; "
                                    f"at most {format_age(max_age)} is allowed"))
    if failures:
        detail = "; ".join(d for _, d in failures)
        return Rejected(source, failures[0][0], detail)
    return Accepted(source, tree if tree is not None else subjects[0], predicate, principals)


# Furthest first reached, as engine.attest orders them: the most advanced refusal explains best.
_SIGNATURE_ORDER = ["malformed-envelope", "wrong-payload-type", "unknown-key", "bad-signature",
                    "principal-not-allowed", "namespace-not-allowed", "key-not-yet-valid", "key-expired",
                    "invalid-statement", "wrong-predicate-type"]


def _principals(verified: Any, signers: Sequence[str] | None) -> tuple[str, ...]:
    from engine.attest import match_pattern_list

    names: list[str] = []
    for signer in verified.signers:
        for pattern_list in signer.principals:
            if signers:
                names += [s for s in signers if match_pattern_list(s, pattern_list) == 1]
            else:
                names += pattern_list.split(",")
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------- finding evidence

def find_evidence(facts: Facts, tree: str, *, result: str | None = "passed", env: str | None = None,
                  max_age: float | None = None, signers: Sequence[str] | None = None,
                  paths: Matcher | None = None) -> tuple[list[Accepted], list[Rejected]]:
    """Judge every candidate for `tree`: the lines of the evidence note on it (as pushed in this
    change when the change updates the notes ref), every --evidence file, and with `paths` the
    notes on other trees too (they count when the listed subtrees are identical).

    Keys come from the policy's trust.allowed_signers (facts.allowed_signers(), raising
    engine.facts.interface.TrustError when it is missing or malformed); never from the change.
    """
    candidates = gather(facts, tree, everywhere=paths is not None)
    if not candidates:
        return [], []
    allowed = facts.allowed_signers()
    subtrees = None
    if paths is not None:
        matcher = paths

        def subtrees(other: str) -> str | None:
            return subtree_difference(facts, tree, other, matcher)
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for source, raw in candidates[:MAX_CANDIDATES]:
        if isinstance(raw, Rejected):
            rejected.append(raw)
            continue
        verdict = judge_envelope(raw, source, allowed=allowed, now=facts.now, tree=tree, result=result,
                                 env=env, max_age=max_age, signers=signers, subtrees=subtrees)
        if isinstance(verdict, Accepted):
            accepted.append(verdict)
        else:
            rejected.append(verdict)
    if len(candidates) > MAX_CANDIDATES:
        rejected.append(Rejected("evidence notes", "not-examined",
                                 f"{len(candidates) - MAX_CANDIDATES} more candidate(s) were not examined"))
    return accepted, rejected


def gather(facts: Facts, tree: str, *, everywhere: bool = False) -> list[tuple[str, bytes | Rejected]]:
    """(source, envelope) candidates for `tree`: its note, then (with `everywhere`) notes on
    other trees, then --evidence files; an unreadable file is a Rejected in place of bytes."""
    found: list[tuple[str, bytes | Rejected]] = []
    lines = facts.notes(NOTES_KIND, tree)
    found += [(_note_source(tree, n, len(lines)), line) for n, line in enumerate(lines, start=1)]
    if everywhere:
        others = [t for t in facts.noted_objects(NOTES_KIND) if t != tree][:MAX_CANDIDATES]
        noted = facts.notes_on(NOTES_KIND, others)
        for other in others:
            lines = noted.get(other, [])
            found += [(_note_source(other, n, len(lines)), line) for n, line in enumerate(lines, start=1)]
    for path in facts.inputs.evidence_files:
        found += file_candidates(path)
    return found


def file_candidates(path: str) -> list[tuple[str, bytes | Rejected]]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return [(f"file {path}", Rejected(f"file {path}", "malformed", f"cannot read it: {exc.strerror}"))]
    envelopes = envelopes_in(data)
    if not envelopes:
        return [(f"file {path}", Rejected(f"file {path}", "malformed", "it is empty"))]
    if len(envelopes) == 1:
        return [(f"file {path}", envelopes[0][1])]
    return [(f"file {path}, line {n}", raw) for n, raw in envelopes]


def _note_source(tree: str, number: int, count: int) -> str:
    return f"note on tree {_short(tree)}" + (f" (line {number})" if count > 1 else "")


def subtree_difference(facts: Facts, tree: str, other: str, paths: Matcher) -> str | None:
    """None when every path matching `paths` has the same blob (and mode) in both trees;
    otherwise what differs, for the explanation."""
    mine, theirs = _listing(facts, tree, paths), _listing(facts, other, paths)
    if theirs is None:
        return f"tree {_short(other)} is not in this repository"
    if mine is None:
        return f"tree {_short(tree)} is not in this repository"
    differing = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
    if not differing:
        return None
    shown = ", ".join(_describe_difference(p, mine, theirs) for p in differing[:3])
    return shown + (f" and {len(differing) - 3} more" if len(differing) > 3 else "")


def _describe_difference(path: bytes, mine: dict[bytes, str], theirs: dict[bytes, str]) -> str:
    from engine.change import show

    if path not in theirs:
        return f"{show(path)} (only in the judged tree)"
    if path not in mine:
        return f"{show(path)} (only in the evidence's tree)"
    return f"{show(path)} (changed)"


def _listing(facts: Facts, tree: str, paths: Matcher) -> dict[bytes, str] | None:
    """path -> "mode oid" of every blob of `tree` that `paths` matches."""
    entries = facts.tree_entries(tree)
    return None if entries is None else {p: e for p, e in entries.items() if paths.match(p)}


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


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _short(oid: str) -> str:
    return oid[:12]


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


__all__ = [
    "PREDICATE_DRY_RUN", "Accepted", "Rejected", "artifact_digest", "build_predicate", "describe",
    "dry_run_statement", "envelopes_in", "find_evidence", "judge_envelope",
    "recorded_artifacts",
]

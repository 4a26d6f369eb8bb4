"""Dry-run evidence records: verifying one envelope against what a policy requires.

`judge_envelope` accepts a candidate only if a key the policy trusts signed a dry-run
statement (engine.evidence) about the judged tree that meets the rest of the requirement
(result, environment, age); otherwise it says why not, in the reasons evidence reports.
`envelope_line` and `claimed_trees` read an envelope without verifying it, to file it
as a note.

engine.attest (and cryptography behind it) is imported only when an envelope is read.
"""

from __future__ import annotations

from engine.evidence import PREDICATE_DRY_RUN, Accepted, Rejected, predicate_problems
from engine.times import format_age, parse_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from engine.attest import AllowedSigners

CLOCK_SKEW = 300.0  # seconds a signer's clock may run ahead of the judge's

# Reasons from engine.attest (its Reason values) under the names evidence reports.
_SIGNATURE_REASONS = {
    "malformed-envelope": "malformed", "invalid-statement": "malformed",
    "wrong-payload-type": "wrong-payload-type", "wrong-predicate-type": "wrong-type",
    "unknown-key": "unknown-key", "bad-signature": "bad-signature",
    "principal-not-allowed": "wrong-signer", "namespace-not-allowed": "namespace-not-allowed",
    "key-expired": "key-expired", "key-not-yet-valid": "key-not-yet-valid",
}


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


# --------------------------------------------------------------------------- reading without verifying

def envelope_line(envelope: bytes) -> bytes:
    """One-line JSON of an envelope (as a note stores it); the signed payload is unchanged."""
    from engine.attest import parse_envelope

    return parse_envelope(envelope).to_json()


def claimed_trees(envelope: bytes) -> list[str]:
    """The gitTree subjects an envelope claims, read WITHOUT verifying it (to file it as a note)."""
    from engine.attest import parse_envelope, parse_statement

    return list(parse_statement(parse_envelope(envelope).payload).digests("gitTree"))


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _short(oid: str) -> str:
    return oid[:12]

"""Verify a DSSE-wrapped in-toto statement against an allowed_signers file.

Order matters: the payload is parsed only after a signature from an allowed key has been
checked, so nothing an attacker wrote is interpreted before it is authenticated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.attest.allowed_signers import AllowedSigners, SignerEntry
from engine.attest.dsse import PAYLOAD_TYPE, Signature, parse_envelope
from engine.attest.errors import EnvelopeRejected, Reason
from engine.attest.sshkeys import PublicKey
from engine.attest.sshsyntax import epoch_seconds
from engine.attest.statement import Statement, StatementError, parse_statement

NAMESPACE_EVIDENCE = "changegate-evidence"
NAMESPACE_APPROVAL = "changegate-approval"

# How far a signature got; when none is accepted, the furthest one names the reason.
_PROGRESS = {
    Reason.UNKNOWN_KEY: 0, Reason.BAD_SIGNATURE: 1, Reason.PRINCIPAL_NOT_ALLOWED: 2,
    Reason.NAMESPACE_NOT_ALLOWED: 3, Reason.KEY_NOT_YET_VALID: 4, Reason.KEY_EXPIRED: 4,
}


@dataclass(frozen=True)
class Signer:
    """Who signed: the key's fingerprint and the allowed_signers lines that authorised it."""

    fingerprint: str
    principals: tuple[str, ...]  # each line's principals pattern-list, as written
    lines: tuple[int, ...]


@dataclass(frozen=True)
class Verified:
    """An authenticated statement and every accepted signer (at least one)."""

    statement: Statement
    signers: tuple[Signer, ...]
    payload: bytes

    @property
    def signer(self) -> Signer:
        return self.signers[0]


def verify_envelope(
    envelope: bytes | str | Mapping[str, Any],
    allowed_signers: AllowedSigners,
    *,
    namespace: str,
    now: dt.datetime,
    principal: str | None = None,
    predicate_type: str | None = None,
) -> Verified:
    """Return the statement if a signature from a key allowed for `namespace` (and
    `principal`, when given) at `now` verifies; raise EnvelopeRejected otherwise."""
    env = parse_envelope(envelope)
    if env.payload_type != PAYLOAD_TYPE:
        raise EnvelopeRejected(
            Reason.WRONG_PAYLOAD_TYPE,
            f"payloadType is {env.payload_type!r}, but only {PAYLOAD_TYPE!r} (an in-toto "
            "statement) is accepted",
        )
    seconds = epoch_seconds(now)
    message = env.pae()
    signers: list[Signer] = []
    failures: list[tuple[Reason, str]] = []
    for number, sig in enumerate(env.signatures, start=1):
        label = f"signature {number} (keyid {sig.keyid or 'missing'})"
        key = _verifying_key(sig, message, allowed_signers)
        if key is None:
            failures.append(_no_key(label, sig, allowed_signers))
            continue
        entries = allowed_signers.entries_for(key)
        refusals = [e.refusal(principal=principal, namespace=namespace, now=seconds) for e in entries]
        accepted = [e for e, r in zip(entries, refusals, strict=True) if r is None]
        if accepted:
            signers.append(_signer(key, accepted))
        else:
            found = [r for r in refusals if r is not None]
            worst = max(found, key=lambda r: _PROGRESS[r[0]])[0]
            failures.append((worst, f"{label} by {key.fingerprint}: " + "; ".join(m for _, m in found)))
    if not signers:
        reason = max(failures, key=lambda f: _PROGRESS[f[0]])[0]
        raise EnvelopeRejected(reason, _summary(reason, allowed_signers.source, namespace, principal),
                               tuple(m for _, m in failures))
    try:
        statement = parse_statement(env.payload)
    except StatementError as exc:
        raise EnvelopeRejected(Reason.INVALID_STATEMENT, f"signed, but {exc}", exc.errors) from None
    if predicate_type is not None and statement.predicate_type != predicate_type:
        raise EnvelopeRejected(
            Reason.WRONG_PREDICATE_TYPE,
            f"the statement's predicateType is {statement.predicate_type!r}, but "
            f"{predicate_type!r} is required here",
        )
    return Verified(statement, tuple(signers), env.payload)


def _verifying_key(sig: Signature, message: bytes, allowed: AllowedSigners) -> PublicKey | None:
    """The allowed key this signature verifies with; the keyid hint is tried first, not trusted."""
    keys = sorted(allowed.signing_keys(), key=lambda k: k.fingerprint != sig.keyid)
    return next((k for k in keys if k.verifies(sig.sig, message)), None)


def _no_key(label: str, sig: Signature, allowed: AllowedSigners) -> tuple[Reason, str]:
    if any(k.fingerprint == sig.keyid for k in allowed.signing_keys()):
        return Reason.BAD_SIGNATURE, (
            f"{label} names an allowed key but does not verify with it: the payload or "
            "payloadType changed after signing, or the signature was copied from another envelope"
        )
    skipped = [s for s in allowed.skipped if s.fingerprint == sig.keyid]
    why = "".join(f"; line {s.line} has this key but was skipped: {s.reason}" for s in skipped)
    return Reason.UNKNOWN_KEY, (
        f"{label} verifies with no key in {allowed.source}{why}"
    )


def _signer(key: PublicKey, entries: list[SignerEntry]) -> Signer:
    return Signer(key.fingerprint, tuple(e.principals for e in entries), tuple(e.line for e in entries))


def _summary(reason: Reason, source: str, namespace: str, principal: str | None) -> str:
    who = f" for principal {principal!r}" if principal is not None else ""
    return {
        Reason.UNKNOWN_KEY: f"no signature is from a key in {source}: add the signer's public "
                            f"key there, or sign with a key that is listed",
        Reason.BAD_SIGNATURE: "the signature does not match the envelope's content: it was "
                              "altered after signing or mixed with another envelope; sign it again",
        Reason.PRINCIPAL_NOT_ALLOWED: f"the signing key is not listed{who} in {source}",
        Reason.NAMESPACE_NOT_ALLOWED: f"the signing key may not sign {namespace!r} statements: "
                                      f"its namespaces=\"...\" option in {source} excludes it",
        Reason.KEY_NOT_YET_VALID: f"the signing key is not valid yet (valid-after in {source})",
        Reason.KEY_EXPIRED: f"the signing key has expired (valid-before in {source}): renew its "
                            f"line or sign with a current key",
    }[reason]

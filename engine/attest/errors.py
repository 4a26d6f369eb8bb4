"""The one exception family of engine.attest, and the reasons an envelope is rejected."""

from __future__ import annotations

import enum


class AttestError(Exception):
    """Anything in engine.attest that went wrong; the message says what and what to do."""


class Reason(enum.StrEnum):
    """Why an envelope was rejected: stable names a rule can switch on and show to users."""

    MALFORMED_ENVELOPE = "malformed-envelope"
    WRONG_PAYLOAD_TYPE = "wrong-payload-type"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    PRINCIPAL_NOT_ALLOWED = "principal-not-allowed"
    NAMESPACE_NOT_ALLOWED = "namespace-not-allowed"
    KEY_NOT_YET_VALID = "key-not-yet-valid"
    KEY_EXPIRED = "key-expired"
    INVALID_STATEMENT = "invalid-statement"
    WRONG_PREDICATE_TYPE = "wrong-predicate-type"


class EnvelopeRejected(AttestError):
    """An envelope that does not prove what it claims.

    `reason` is the stable classification; `details` lists, per signature or per
    allowed_signers line, what was seen, so a user can tell which fix applies.
    """

    def __init__(self, reason: Reason, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details

    def __str__(self) -> str:
        if not self.details:
            return f"{self.reason.value}: {self.message}"
        return f"{self.reason.value}: {self.message}\n" + "\n".join(f"  - {d}" for d in self.details)

"""Signed attestations: in-toto Statement v1 in a DSSE envelope, Ed25519 OpenSSH keys,
trust from an OpenSSH allowed_signers file.

Used for dry-run evidence and signed approvals. Importing this package is cheap:
`cryptography` is imported only when a key signs or a signature is checked.
"""

from engine.attest.allowed_signers import (
    AllowedSigners,
    AllowedSignersError,
    SignerEntry,
    SkippedLine,
    load_allowed_signers,
    parse_allowed_signers,
)
from engine.attest.dsse import (
    PAYLOAD_TYPE,
    Envelope,
    Signature,
    pae,
    parse_envelope,
    sign_payload,
    sign_statement,
)
from engine.attest.errors import AttestError, EnvelopeRejected, Reason
from engine.attest.jsonio import canonical_json
from engine.attest.sshkeys import (
    PublicKey,
    fingerprint,
    load_signing_key,
    public_key,
    public_key_line,
)
from engine.attest.sshsyntax import match_pattern_list
from engine.attest.statement import (
    STATEMENT_TYPE,
    Statement,
    StatementError,
    Subject,
    parse_statement,
    statement_errors,
)
from engine.attest.verify import (
    NAMESPACE_APPROVAL,
    NAMESPACE_EVIDENCE,
    Signer,
    Verified,
    verify_envelope,
)

__all__ = [
    "NAMESPACE_APPROVAL", "NAMESPACE_EVIDENCE", "PAYLOAD_TYPE", "STATEMENT_TYPE",
    "AllowedSigners", "AllowedSignersError", "AttestError", "Envelope", "EnvelopeRejected",
    "PublicKey", "Reason", "Signature", "Signer", "SignerEntry", "SkippedLine", "Statement",
    "StatementError", "Subject", "Verified", "canonical_json", "fingerprint",
    "load_allowed_signers", "load_signing_key", "match_pattern_list", "pae",
    "parse_allowed_signers", "parse_envelope", "parse_statement", "public_key",
    "public_key_line", "sign_payload", "sign_statement", "statement_errors", "verify_envelope",
]

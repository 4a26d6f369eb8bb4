"""DSSE v1 envelopes: encode, parse, sign.

Spec: https://github.com/secure-systems-lab/dsse (envelope.md, protocol.md). The signature
covers PAE(payloadType, payload), never the JSON around it, so an envelope can be
re-serialised freely; only the payload bytes and the type are authenticated.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.attest.errors import EnvelopeRejected, Reason
from engine.attest.jsonio import canonical_json, strict_loads
from engine.attest.sshkeys import load_signing_key, public_key_of
from engine.attest.statement import Statement, parse_statement

PAYLOAD_TYPE = "application/vnd.in-toto+json"
_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE allows both); ValueError otherwise."""
    if _STANDARD.fullmatch(text):
        altchars = None
    elif _URL_SAFE.fullmatch(text):
        altchars = b"-_"
    else:
        raise ValueError("not base64")
    bare = text.rstrip("=")
    if len(bare) % 4 == 1 or (bare != text and len(text) % 4):
        raise ValueError("not base64")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=altchars, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


@dataclass(frozen=True)
class Signature:
    keyid: str  # unauthenticated hint: the OpenSSH SHA256 fingerprint of the signer's key
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [{"keyid": s.keyid, "sig": b64encode(s.sig)} for s in self.signatures],
        }

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())


def parse_envelope(data: bytes | str | Mapping[str, Any]) -> Envelope:
    """Decode an envelope's JSON shape; EnvelopeRejected(MALFORMED_ENVELOPE) if it has none."""
    if isinstance(data, (bytes, str)):
        try:
            data = strict_loads(data)
        except ValueError as exc:
            raise _malformed(f"the envelope is {exc}") from None
    if not isinstance(data, Mapping):
        raise _malformed("the envelope is not a JSON object")
    payload_type, payload, signatures = (data.get(k) for k in ("payloadType", "payload", "signatures"))
    if not isinstance(payload_type, str):
        raise _malformed('"payloadType" is missing or not a string')
    if not isinstance(payload, str):
        raise _malformed('"payload" is missing or not a string')
    if not isinstance(signatures, list) or not signatures:
        raise _malformed('"signatures" is missing or empty: the envelope is not signed')
    try:
        body = b64decode(payload)
    except ValueError:
        raise _malformed('"payload" is not base64') from None
    parsed = []
    for i, entry in enumerate(signatures, start=1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("sig"), str) \
                or not isinstance(entry.get("keyid", ""), str):
            raise _malformed(f"signature {i} is not an object with a string \"sig\" (and \"keyid\")")
        try:
            parsed.append(Signature(entry.get("keyid", ""), b64decode(entry["sig"])))
        except ValueError:
            raise _malformed(f'signature {i}: "sig" is not base64') from None
    return Envelope(payload_type, body, tuple(parsed))


def _malformed(what: str) -> EnvelopeRejected:
    return EnvelopeRejected(
        Reason.MALFORMED_ENVELOPE,
        f"{what}; a DSSE envelope is a JSON object with payloadType, base64 payload and "
        "a list of signatures",
    )


def sign_payload(
    payload: bytes,
    key_path: str | Path,
    *,
    payload_type: str = PAYLOAD_TYPE,
    passphrase: str | bytes | None = None,
) -> Envelope:
    """One-signature envelope over `payload`, keyid = the key's OpenSSH fingerprint."""
    key = load_signing_key(key_path, passphrase=passphrase)
    keyid = public_key_of(key).fingerprint
    return Envelope(payload_type, payload, (Signature(keyid, key.sign(pae(payload_type, payload))),))


def sign_statement(
    statement: Statement | Mapping[str, Any],
    key_path: str | Path,
    *,
    passphrase: str | bytes | None = None,
) -> bytes:
    """Envelope JSON for a statement (validated first: an invalid one is never signed)."""
    if not isinstance(statement, Statement):
        statement = parse_statement(statement)
    return sign_payload(statement.to_json(), key_path, passphrase=passphrase).to_json()

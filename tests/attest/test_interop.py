"""Independent implementations agree with ours: securesystemslib's DSSE (both directions)
and the DSSE specification's own PAE example."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from securesystemslib import dsse as sslib_dsse
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from engine.attest import (
    NAMESPACE_EVIDENCE,
    PAYLOAD_TYPE,
    pae,
    parse_allowed_signers,
    sign_statement,
    verify_envelope,
)
from tests.helpers.attest import NOW, KeyPair, statement


def sslib_key(key: KeyPair, keyid: str | None = None) -> SSlibKey:
    """securesystemslib's view of an OpenSSH ed25519 key: the raw 32 bytes, hex."""
    return SSlibKey(keyid or key.fingerprint, "ed25519", "ed25519",
                    {"public": key.public.ed25519_raw.hex()})


def test_pae_matches_the_dsse_spec_example() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_matches_securesystemslib() -> None:
    body = statement().to_json()
    assert pae(PAYLOAD_TYPE, body) == sslib_dsse.Envelope(body, PAYLOAD_TYPE, {}).pae()


def test_securesystemslib_verifies_our_envelope(alice: KeyPair) -> None:
    envelope = sslib_dsse.Envelope.from_dict(json.loads(sign_statement(statement(), alice.path)))
    accepted = envelope.verify([sslib_key(alice)], 1)
    assert list(accepted) == [alice.fingerprint]
    assert envelope.payload == statement().to_json()
    assert envelope.payload_type == PAYLOAD_TYPE


def test_securesystemslib_rejects_our_envelope_under_another_key(alice: KeyPair, bob: KeyPair) -> None:
    envelope = sslib_dsse.Envelope.from_dict(json.loads(sign_statement(statement(), alice.path)))
    with pytest.raises(VerificationError):
        envelope.verify([sslib_key(bob, keyid=alice.fingerprint)], 1)


@pytest.mark.parametrize("keyid", ["fingerprint", "securesystemslib-default"])
def test_we_verify_an_envelope_signed_by_securesystemslib(alice: KeyPair, keyid: str) -> None:
    private = load_ssh_private_key(alice.path.read_bytes(), None)
    public = sslib_key(alice) if keyid == "fingerprint" else SSlibKey.from_crypto(private.public_key())
    envelope = sslib_dsse.Envelope(statement().to_json(), PAYLOAD_TYPE, {})
    envelope.sign(CryptoSigner(private, public))
    trust = parse_allowed_signers(f"alice@example.com {alice.public_line}\n")
    verified = verify_envelope(json.dumps(envelope.to_dict()), trust,
                               namespace=NAMESPACE_EVIDENCE, now=NOW)
    assert verified.statement == statement()
    assert verified.signer.fingerprint == alice.fingerprint

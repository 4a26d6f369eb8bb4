"""verify_envelope: a signed statement is accepted only from an allowed key, and every
rejection carries a reason a rule can act on."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.attest import (
    NAMESPACE_APPROVAL,
    NAMESPACE_EVIDENCE,
    AllowedSigners,
    EnvelopeRejected,
    Reason,
    parse_allowed_signers,
    sign_payload,
    sign_statement,
    verify_envelope,
)
from tests.helpers.attest import NOW, PREDICATE, KeyPair, envelope_dict, statement

SECOND = dt.timedelta(seconds=1)


@pytest.fixture(scope="module")
def trust(alice: KeyPair) -> AllowedSigners:
    return parse_allowed_signers(
        "# who may sign dry-run evidence\n"
        f'alice@example.com namespaces="{NAMESPACE_EVIDENCE}" {alice.public_line}\n'
    )


def rejection(envelope: Any, trust: AllowedSigners, **kwargs: Any) -> EnvelopeRejected:
    kwargs.setdefault("namespace", NAMESPACE_EVIDENCE)
    kwargs.setdefault("now", NOW)
    with pytest.raises(EnvelopeRejected) as caught:
        verify_envelope(envelope, trust, **kwargs)
    return caught.value


def test_signed_statement_round_trips_with_its_signer(alice: KeyPair, trust: AllowedSigners) -> None:
    verified = verify_envelope(sign_statement(statement(), alice.path), trust,
                               namespace=NAMESPACE_EVIDENCE, now=NOW)
    assert verified.statement == statement()
    assert verified.signer.fingerprint == alice.fingerprint
    assert verified.signer.principals == ("alice@example.com",)
    assert verified.signer.lines == (2,)


def test_envelope_may_be_given_as_text_or_decoded_json(alice: KeyPair, trust: AllowedSigners) -> None:
    envelope = sign_statement(statement(), alice.path)
    for form in (envelope.decode(), json.loads(envelope)):
        assert verify_envelope(form, trust, namespace=NAMESPACE_EVIDENCE, now=NOW).statement == statement()


def test_signing_is_deterministic(alice: KeyPair) -> None:
    assert sign_statement(statement(), alice.path) == sign_statement(statement().to_dict(), alice.path)


def test_tampered_payload_is_a_bad_signature(alice: KeyPair, trust: AllowedSigners) -> None:
    envelope = envelope_dict(sign_statement(statement(result="failed"), alice.path))
    envelope["payload"] = base64.b64encode(statement(result="passed").to_json()).decode()
    assert rejection(envelope, trust).reason is Reason.BAD_SIGNATURE


def test_signature_swapped_in_from_another_envelope_is_a_bad_signature(
    alice: KeyPair, trust: AllowedSigners
) -> None:
    wanted = envelope_dict(sign_statement(statement(tree="a" * 40), alice.path))
    other = envelope_dict(sign_statement(statement(tree="b" * 40), alice.path))
    wanted["signatures"] = other["signatures"]
    caught = rejection(wanted, trust)
    assert caught.reason is Reason.BAD_SIGNATURE
    assert "copied from another envelope" in caught.details[0]


def test_key_not_in_allowed_signers_is_unknown(bob: KeyPair, trust: AllowedSigners) -> None:
    caught = rejection(sign_statement(statement(), bob.path), trust)
    assert caught.reason is Reason.UNKNOWN_KEY
    assert bob.fingerprint in caught.details[0]


def test_unknown_key_names_the_line_that_was_skipped_for_it(alice: KeyPair) -> None:
    trust = parse_allowed_signers(f"*@example.com cert-authority {alice.public_line}\n")
    caught = rejection(sign_statement(statement(), alice.path), trust)
    assert caught.reason is Reason.UNKNOWN_KEY
    assert "line 1 has this key but was skipped: cert-authority" in caught.details[0]


def test_payload_from_an_unknown_key_is_not_parsed(bob: KeyPair, trust: AllowedSigners) -> None:
    envelope = sign_payload(b'{"not": "a statement"}', bob.path).to_json()
    assert rejection(envelope, trust).reason is Reason.UNKNOWN_KEY


def test_key_outside_its_namespaces_is_refused(alice: KeyPair, trust: AllowedSigners) -> None:
    caught = rejection(sign_statement(statement(), alice.path), trust, namespace=NAMESPACE_APPROVAL)
    assert caught.reason is Reason.NAMESPACE_NOT_ALLOWED
    assert "changegate-approval" in caught.message


def test_principal_not_listed_for_the_key_is_refused(alice: KeyPair, trust: AllowedSigners) -> None:
    envelope = sign_statement(statement(), alice.path)
    verified = verify_envelope(envelope, trust, namespace=NAMESPACE_EVIDENCE, now=NOW,
                               principal="alice@example.com")
    assert verified.signer.fingerprint == alice.fingerprint
    assert rejection(envelope, trust, principal="ci-dry-run").reason is Reason.PRINCIPAL_NOT_ALLOWED


def test_negated_principal_pattern_refuses_that_principal(alice: KeyPair) -> None:
    trust = parse_allowed_signers(f"*,!mallory@example.com {alice.public_line}\n")
    envelope = sign_statement(statement(), alice.path)
    assert verify_envelope(envelope, trust, namespace=NAMESPACE_EVIDENCE, now=NOW, principal="ci")
    caught = rejection(envelope, trust, principal="mallory@example.com")
    assert caught.reason is Reason.PRINCIPAL_NOT_ALLOWED


@pytest.fixture(scope="module")
def windowed(alice: KeyPair) -> AllowedSigners:
    return parse_allowed_signers(
        f'alice valid-after="20260101Z",valid-before="20261231235959Z" {alice.public_line}\n'
    )


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC), None),
        (dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC) + SECOND, Reason.KEY_EXPIRED),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) - SECOND, Reason.KEY_NOT_YET_VALID),
        (dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=9))) - SECOND,
         Reason.KEY_NOT_YET_VALID),
    ],
)
def test_validity_window_is_inclusive_at_both_ends(
    alice: KeyPair, windowed: AllowedSigners, now: dt.datetime, reason: Reason | None
) -> None:
    envelope = sign_statement(statement(), alice.path)
    if reason is None:
        assert verify_envelope(envelope, windowed, namespace=NAMESPACE_EVIDENCE, now=now)
    else:
        assert rejection(envelope, windowed, now=now).reason is reason


def test_rejection_explains_every_line_of_the_key(alice: KeyPair) -> None:
    trust = parse_allowed_signers(
        f'alice namespaces="{NAMESPACE_APPROVAL}" {alice.public_line}\n'
        f'alice valid-before="20250101Z" {alice.public_line}\n'
    )
    caught = rejection(sign_statement(statement(), alice.path), trust)
    assert caught.reason is Reason.KEY_EXPIRED
    assert "line 1 (alice) allows namespaces 'changegate-approval'" in caught.details[0]
    assert "line 2 (alice) expired at 2025-01-01T00:00:00Z" in caught.details[0]
    assert str(caught).startswith("key-expired: the signing key has expired")


def test_wrong_payload_type_is_refused_even_when_signed(alice: KeyPair, trust: AllowedSigners) -> None:
    envelope = sign_payload(statement().to_json(), alice.path, payload_type="application/json")
    caught = rejection(envelope.to_json(), trust)
    assert caught.reason is Reason.WRONG_PAYLOAD_TYPE
    assert "application/vnd.in-toto+json" in caught.message


def _mutate(envelope: bytes, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    value = envelope_dict(envelope)
    change(value)
    return value


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda e: e.pop("signatures"), '"signatures" is missing or empty'),
        (lambda e: e.update(signatures=[]), '"signatures" is missing or empty'),
        (lambda e: e.pop("payloadType"), '"payloadType" is missing'),
        (lambda e: e.update(payload=123), '"payload" is missing or not a string'),
        (lambda e: e.update(payload="%%%not base64%%%"), '"payload" is not base64'),
        (lambda e: e.update(payload="QUJD+-"), '"payload" is not base64'),
        (lambda e: e["signatures"][0].update(sig="@@"), '"sig" is not base64'),
        (lambda e: e["signatures"][0].update(sig=None), 'signature 1 is not an object'),
        (lambda e: e["signatures"][0].update(keyid=7), 'signature 1 is not an object'),
    ],
)
def test_malformed_envelope_is_refused_before_any_crypto(
    alice: KeyPair, trust: AllowedSigners, mutate: Callable[[dict[str, Any]], object], problem: str
) -> None:
    caught = rejection(_mutate(sign_statement(statement(), alice.path), mutate), trust)
    assert caught.reason is Reason.MALFORMED_ENVELOPE
    assert problem in caught.message


@pytest.mark.parametrize("text", [b"", b"not json", b"[]", b'{"payload": "a", "payload": "b"}', b"\xff"])
def test_envelope_that_is_not_a_json_object_is_malformed(trust: AllowedSigners, text: bytes) -> None:
    assert rejection(text, trust).reason is Reason.MALFORMED_ENVELOPE


def test_url_safe_unpadded_base64_is_accepted_as_dsse_allows(alice: KeyPair, trust: AllowedSigners) -> None:
    def url_safe(value: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(value)).decode().rstrip("=")

    envelope = envelope_dict(sign_statement(statement(tree="f" * 40), alice.path))
    envelope["payload"] = url_safe(envelope["payload"])
    envelope["signatures"][0]["sig"] = url_safe(envelope["signatures"][0]["sig"])
    assert verify_envelope(envelope, trust, namespace=NAMESPACE_EVIDENCE, now=NOW)


def test_signed_but_invalid_statement_is_refused_with_the_broken_rules(
    alice: KeyPair, trust: AllowedSigners
) -> None:
    body = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                       "predicateType": PREDICATE}).encode()
    caught = rejection(sign_payload(body, alice.path).to_json(), trust)
    assert caught.reason is Reason.INVALID_STATEMENT
    assert caught.details == ('"subject" is empty; at least one subject is required',)


def test_wrong_predicate_type_is_refused_when_one_is_required(alice: KeyPair, trust: AllowedSigners) -> None:
    envelope = sign_statement(statement(), alice.path)
    assert verify_envelope(envelope, trust, namespace=NAMESPACE_EVIDENCE, now=NOW,
                           predicate_type=PREDICATE)
    caught = rejection(envelope, trust, predicate_type="https://changegate.dev/approval/v1")
    assert caught.reason is Reason.WRONG_PREDICATE_TYPE


def _cosigned(*keys: KeyPair) -> dict[str, Any]:
    signed = [envelope_dict(sign_statement(statement(), k.path)) for k in keys]
    signed[0]["signatures"] = [s for e in signed for s in e["signatures"]]
    return signed[0]


def test_one_allowed_signature_among_unknown_ones_suffices(
    alice: KeyPair, bob: KeyPair, trust: AllowedSigners
) -> None:
    verified = verify_envelope(_cosigned(bob, alice), trust, namespace=NAMESPACE_EVIDENCE, now=NOW)
    assert [s.fingerprint for s in verified.signers] == [alice.fingerprint]


def test_every_allowed_signer_is_reported(alice: KeyPair, bob: KeyPair) -> None:
    trust = parse_allowed_signers(f"alice {alice.public_line}\nbob,ci-* {bob.public_line}\n")
    verified = verify_envelope(_cosigned(alice, bob), trust, namespace=NAMESPACE_EVIDENCE, now=NOW)
    assert [(s.fingerprint, s.principals) for s in verified.signers] == [
        (alice.fingerprint, ("alice",)), (bob.fingerprint, ("bob,ci-*",)),
    ]


def test_keyid_is_only_a_hint(alice: KeyPair, bob: KeyPair, trust: AllowedSigners) -> None:
    for keyid in ("", bob.fingerprint):
        envelope = envelope_dict(sign_statement(statement(), alice.path))
        envelope["signatures"][0]["keyid"] = keyid
        verified = verify_envelope(envelope, trust, namespace=NAMESPACE_EVIDENCE, now=NOW)
        assert verified.signer.fingerprint == alice.fingerprint

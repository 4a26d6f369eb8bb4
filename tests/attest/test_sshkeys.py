"""Signing keys: OpenSSH files made by ssh-keygen, fingerprints as ssh-keygen prints them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.attest import AttestError, fingerprint, load_signing_key, public_key, public_key_line
from tests.helpers.attest import KeyPair


def test_fingerprint_equals_what_ssh_keygen_lf_prints(alice: KeyPair) -> None:
    assert public_key(alice.path).fingerprint == alice.fingerprint
    assert fingerprint(alice.public.blob) == alice.fingerprint
    assert alice.fingerprint.startswith("SHA256:") and not alice.fingerprint.endswith("=")


def test_public_key_line_equals_the_pub_file_ssh_keygen_wrote(alice: KeyPair) -> None:
    assert public_key_line(alice.path) == alice.public_line


def test_passphrase_key_without_passphrase_is_a_clear_error(new_key: Callable[..., KeyPair]) -> None:
    key = new_key("locked", passphrase="s3cret")
    with pytest.raises(AttestError, match="protected by a passphrase"):
        load_signing_key(key.path)


def test_passphrase_key_loads_with_its_passphrase(new_key: Callable[..., KeyPair]) -> None:
    key = new_key("locked", passphrase="s3cret")
    assert public_key(key.path, passphrase="s3cret").fingerprint == key.fingerprint


def test_wrong_passphrase_is_named_as_such(new_key: Callable[..., KeyPair]) -> None:
    key = new_key("locked", passphrase="s3cret")
    with pytest.raises(AttestError, match=r"passphrase .* is wrong"):
        load_signing_key(key.path, passphrase=b"guess")


def test_passphrase_for_a_plain_key_is_ignored(alice: KeyPair) -> None:
    assert public_key(alice.path, passphrase="unneeded").fingerprint == alice.fingerprint


def test_rsa_key_is_refused_with_the_fix(new_key: Callable[..., KeyPair]) -> None:
    key = new_key("legacy", key_type="rsa")
    with pytest.raises(AttestError, match=r"RSA.*ssh-keygen -t ed25519"):
        load_signing_key(key.path)


def test_public_key_file_is_not_a_signing_key(alice: KeyPair) -> None:
    with pytest.raises(AttestError, match="not an OpenSSH private key"):
        load_signing_key(f"{alice.path}.pub")


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AttestError, match="cannot read signing key"):
        load_signing_key(tmp_path / "absent")

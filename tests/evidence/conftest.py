"""Real ed25519 keys from ssh-keygen for the evidence tests, made once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.attest import KeyPair, make_key


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def ci(keydir: Path) -> KeyPair:
    """The CI dry-run key: allowed_signers lists it as ci-dry-run."""
    return make_key(keydir, "ci")


@pytest.fixture(scope="module")
def dev(keydir: Path) -> KeyPair:
    """A trusted developer key, listed under another principal than the policy requires."""
    return make_key(keydir, "dev")


@pytest.fixture(scope="module")
def mallory(keydir: Path) -> KeyPair:
    """A key no allowed_signers file lists."""
    return make_key(keydir, "mallory")

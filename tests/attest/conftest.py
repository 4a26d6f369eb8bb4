"""Fixtures for engine.attest: real ed25519 keys from ssh-keygen, one set per module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.attest import KeyPair, make_key


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def alice(keydir: Path) -> KeyPair:
    return make_key(keydir, "alice")


@pytest.fixture(scope="module")
def bob(keydir: Path) -> KeyPair:
    return make_key(keydir, "bob")


@pytest.fixture
def new_key(tmp_path: Path) -> Callable[..., KeyPair]:
    def make(name: str, **kwargs: str) -> KeyPair:
        return make_key(tmp_path, name, **kwargs)
    return make

"""Guards for every test: git never reads or writes the developer's own configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for role in ("AUTHOR", "COMMITTER"):  # commits made by changegate itself (notes) need an identity
        monkeypatch.setenv(f"GIT_{role}_NAME", "Ann Author")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "ann@example.com")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GITHUB_USER_LOGIN", "GL_USERNAME",
                "GL_USER", "GITEA_PUSHER_NAME", "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES"):
        monkeypatch.delenv(var, raising=False)
    real_home = Path(os.path.expanduser("~"))
    before = _mtime(real_home / ".gitconfig")
    yield
    assert _mtime(real_home / ".gitconfig") == before, "a test wrote the real ~/.gitconfig"


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime if path.exists() else None

"""Fixtures of the GitHub tests: the fake GitHub server and a client bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.facts.github_client import GitHub
from tests.helpers.fake_github import NOW, FakeGitHub, fake_ghes, fake_github

__all__ = ["client", "fake_ghes", "fake_github", "sleeps"]


@pytest.fixture
def sleeps() -> list[float]:
    """Durations the client asked to sleep; nothing really waits."""
    return []


@pytest.fixture
def client(fake_github: FakeGitHub, sleeps: list[float]) -> Iterator[GitHub]:
    """A client of the fake GitHub holding the right token, with a recorded sleep."""
    with GitHub(
        fake_github.url,
        environ={"GITHUB_TOKEN": fake_github.token},
        sleep=sleeps.append,
        clock=lambda: NOW,
        timeout=5.0,
    ) as github:
        yield github

"""Steps several commands share: open the repository, resolve a revision, as usage errors."""

from __future__ import annotations

import click

from engine.git import Git, GitError


def open_repository(path: str) -> Git:
    try:
        return Git.discover(path)
    except GitError as exc:
        raise click.UsageError(str(exc)) from None


def resolve_commit(git: Git, rev: str, label: str = "") -> str:
    """The commit `rev` names; a usage error (exit 2) when it names none."""
    commit = git.resolve(rev)
    if commit is None:
        raise click.UsageError(f"{label + ' ' if label else ''}{rev!r} does not name a commit in {git.git_dir}")
    return commit

"""What GitHub says, as data: a pull request, its reviews, files and commits, and check runs.

The client that asks is engine.facts.github_client; engine.report.github builds the
check-run output from a decision. These are plain frozen dataclasses, cheap to import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class PullRequest:
    """What the policy needs of a PR; `head_repo` differs from `base_repo` for a fork."""

    number: int
    state: str  # "open" | "closed"
    draft: bool
    merged: bool
    author: str | None
    head_sha: str
    head_ref: str
    head_repo: str | None  # None when the fork was deleted
    base_ref: str
    base_sha: str
    base_repo: str
    changed_files: int
    commits: int

    @property
    def is_fork(self) -> bool:
        """A fork PR runs with a read-only token and must not be trusted like a branch."""
        return self.head_repo != self.base_repo


@dataclass(frozen=True, slots=True)
class Review:
    """One submitted review; `commit_id` is the head it was given on (stale after a push)."""

    id: int
    user: str | None  # None for a deleted account ("ghost")
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    submitted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One entry of the PR files listing; `patch` is absent for binary or huge diffs."""

    filename: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged
    previous_filename: str | None
    additions: int
    deletions: int
    patch: str | None


@dataclass(frozen=True, slots=True)
class PullCommit:
    """A commit of a PR with the GitHub accounts (if any) its author and committer map to."""

    sha: str
    author_login: str | None
    author_email: str | None
    committer_login: str | None
    committer_email: str | None
    parents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Annotation:
    """A check-run annotation on lines of a file (GitHub's field names)."""

    path: str
    start_line: int
    end_line: int
    annotation_level: Literal["notice", "warning", "failure"]
    message: str
    title: str | None = None
    raw_details: str | None = None


@dataclass(frozen=True, slots=True)
class CheckRunOutput:
    """Title, Markdown summary and text, and any number of annotations (sent 50 at a time)."""

    title: str
    summary: str
    text: str | None = None
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckRun:
    """A check run as GitHub holds it after our request."""

    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    html_url: str | None


# --- review semantics ---------------------------------------------------------


def latest_reviews_by_user(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each user's standing review: their latest APPROVED or CHANGES_REQUESTED one.

    A COMMENTED (or PENDING) review neither approves nor vetoes, so it never replaces an
    earlier decision (as in policy-bot, which only counts reviews of the deciding state).
    GitHub rewrites a dismissed review's state to DISMISSED; when a user's latest deciding
    review was dismissed, that user has no standing approval or veto and is left out.
    Reviews are ordered by submission time, then by their order in the listing.
    """
    deciding = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
    ordered = sorted(
        (r for r in enumerate(reviews) if r[1].state in deciding and r[1].user),
        key=lambda pair: (
            pair[1].submitted_at or dt.datetime.min.replace(tzinfo=dt.UTC),
            pair[0],
        ),
    )
    latest: dict[str, Review] = {}
    for _, review in ordered:
        assert review.user is not None  # filtered above
        latest[review.user] = review
    return {user: r for user, r in latest.items() if r.state != "DISMISSED"}

"""Output formats, by name: what `--format` offers, and how each renders what a command reports.

A format is one module with `render(subject, *, verbose=False) -> str`, where the subject is
one of the `Report` types below: a Decision (the hook, `policy check`), one Measurement of
`policy rollback-check` and its final Rollback verdict, or the ApprovalRecords of a commit
(`policy approvals`). Adding a format is that module plus its line in FORMATS; every
command's `--format` choices are FORMATS' names. A module is imported when first used, so
the push hook loads the text format alone.
"""

from __future__ import annotations

import sys

from engine.decision import Decision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Protocol

    class Renderer(Protocol):
        def __call__(self, subject: Report, *, verbose: bool = False) -> str: ...
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing

FORMATS: dict[str, str] = {
    "text": "engine.report.text",
    "json": "engine.report.json_report",
    "sarif": "engine.report.sarif",
    "html": "engine.report.html",
}


class Measurement(NamedTuple):
    """One measurement of `policy rollback-check`: its place in the watch and its decision (only
    the outcomes of rules that apply to the deploy)."""

    number: int  # 1-based
    total: int  # measurements the watch takes at most
    at: float  # the time judged, seconds since the epoch
    decision: Decision

    @property
    def failed(self) -> bool:
        return not self.decision.allowed


class Rollback(NamedTuple):
    """How `policy rollback-check` ended: keep, roll back, or neither proven (error)."""

    verdict: str  # "keep" | "rollback" | "error"
    exit_code: int
    measurements: int  # taken
    failures: int
    failure_limit: int
    summary: str
    policy: str
    policy_digest: str


class ApprovalRecords(NamedTuple):
    """The approval records on a commit's tree, as `policy approvals` lists them."""

    commit: str
    tree: str
    records: list[dict[str, Any]]  # one row per record: what it claims and its status
    verified: bool  # whether signatures were checked (trust was given)


Report = Decision | Measurement | Rollback | ApprovalRecords  # what a format renders


def names() -> list[str]:
    """The formats, for `--format` choices."""
    return list(FORMATS)


def render(fmt: str, subject: Report, *, verbose: bool = False) -> str:
    """`subject` in the format named `fmt` (one of names())."""
    __import__(FORMATS[fmt])  # importlib itself costs ~1 ms of every push
    renderer: Renderer = sys.modules[FORMATS[fmt]].render
    return renderer(subject, verbose=verbose)

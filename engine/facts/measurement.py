"""The facts of one measurement of a deployed system (`policy rollback-check`).

A measurement is a judgement at stage deploy of no change: there are no commits or paths,
and no repository, only the running system at `now` as the policy's live sources report
it. With a ref named (`--ref`), it is one ref update whose object ids are zero, so that
rules with `refs:` apply exactly when that ref matches; without one, no ref is updated
and every rule on live data at stage deploy applies (engine/rules/thresholds.py).

Files of the policy's trust domain (an alerting-rules file) are read beside the policy
file. Anything that would read a repository fails with a GitError that says there is
none, instead of quietly reading whatever repository the current directory is in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from engine.change import Actor, Change, Inputs, RefUpdate
from engine.facts.gitfacts import GitFacts
from engine.git import Git, GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.policy.source import PolicySource

ZERO = "0" * 40
# Who measures: nobody in particular. A name no policy can list under except.actors, so a
# measurement, like a deploy, is never exempt.
MEASURER = Actor("", "cli", "rollback-check")


class MeasurementFacts(GitFacts):
    measurement = True

    def __init__(self, policy: dict[str, Any], source: PolicySource, *, now: float,
                 ref: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        updates = (RefUpdate(ZERO, ZERO, ref.encode("utf-8", "surrogateescape")),) if ref is not None else ()
        super().__init__(_NoRepository(), Change(updates, MEASURER, "deploy"), inputs=Inputs(now=now, environ=environ),
                         policy=policy, source=source)

    def prefetch(self) -> None:
        """Nothing to walk: a measurement brings no commits."""


class _NoRepository(Git):
    """Stands in for the repository a measurement does not have: every git call fails, saying so."""

    def __init__(self) -> None:
        super().__init__(os.devnull)

    def run_status(self, *args: str, stdin: bytes | None = None,
                   ok: Sequence[int] = (0,)) -> tuple[int, bytes]:
        raise GitError(f"git {args[0] if args else ''} cannot run: a measurement of a deployed system "
                       "has no repository")

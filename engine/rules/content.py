"""What the content rule kinds share (deny_secrets, deny_unsafe_models): the files new commits
add or change at the paths a rule covers, the lines a commit adds to a file, and how binary a
blob is. Contents come from `Facts.blob_contents` (engine/facts/content.py), which reads each
blob once per decision within the rule's caps.

"Lines a commit adds": a line of the new blob that the same file in the commit's first parent
does not hold, numbered as in the new blob. Moving a line within a file adds nothing; a line
added in one commit of a push and removed in a later one is still added by the first.
"""

from __future__ import annotations

from engine.change import Commit, RefUpdate, show
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from engine.decision import Outcome
    from engine.facts.content import ContentLimit
    from engine.facts.interface import Facts
    from engine.policy.patterns import Matcher
else:
    from engine.lighttuple import NamedTuple

BINARY_PROBE = 8000  # git's own test: a NUL byte among the first 8,000 bytes makes a file binary
_VERB = {"A": "adds", "M": "changes", "T": "changes the type of"}
_SUBMODULE = "160000"


class ContentRule(Rule):
    """What the content kinds declare alike: they read the changed files at their `paths`, within
    two caps (`max_file_size`, `max_push_size`), and past the per-push cap they fail closed."""

    pattern_fields = ("paths",)
    reads_paths = True
    reading = "read"  # what the rule does to a file, in its messages
    lighter = "push fewer commits at a time"  # how a pusher stays under the per-push cap

    def caps(self) -> tuple[int, int]:
        """(per file, per push) in bytes."""
        from engine.rules.max_file_size import parse_size

        return parse_size(self.params.max_file_size), parse_size(self.params.max_push_size)

    def over_push_cap(self, exc: ContentLimit) -> Outcome:
        cap = self.params.max_push_size
        return self.outcome(
            "fail", f"cannot {self.reading} the new files: {exc} (max_push_size {cap})",
            required=f"the files this rule {self.reading}s in one push come to at most max_push_size {cap}",
            fix=f"{self.lighter}; or an administrator raises max_push_size")


class Touch(NamedTuple):
    """One blob a new commit brings to a covered path."""

    update: RefUpdate
    commit: Commit
    status: str
    path: bytes
    oid: str
    old_oid: str  # the path's blob in the first parent; "" when it had none (or not a blob)


def touched(facts: Facts, updates: list[RefUpdate], refs: Matcher | None,
            paths: Matcher | None) -> tuple[list[Touch], int]:
    """Every blob the new commits add or change at a path `paths` covers (None: every path), in
    commit order, and how many submodule entries (commits, no contents) they bring there.

    Worked out once per facts, updates and matchers (the very objects): deny_secrets and
    deny_unsafe_models over the same paths share one list instead of walking every path twice."""
    key = tuple(updates)
    if not _LAST or _LAST[0] is not facts:
        _LAST[:] = [facts, []]
    kept = _LAST[1]
    for seen_updates, seen_refs, seen_paths, result in kept:
        if seen_refs is refs and seen_paths is paths and seen_updates == key:
            return list(result[0]), result[1]
    verdicts: dict[bytes, bool] = {}
    found: list[Touch] = []
    new = Touch._make  # a plain tuple construction: a large push brings tens of thousands
    submodules = 0
    for u in updates:
        for commit in facts.commits_for(u, refs):
            for changed in commit.paths:
                if changed.status not in _VERB:
                    continue  # a deletion adds nothing
                covered = verdicts.get(changed.path)
                if covered is None:
                    covered = verdicts[changed.path] = paths is None or paths.decide(changed.path) is not None
                if not covered:
                    continue
                if changed.mode == _SUBMODULE:
                    submodules += 1
                    continue
                old = changed.old_oid if changed.status == "M" and changed.old_oid.strip("0") else ""
                found.append(new((u, commit, changed.status, changed.path, changed.oid, old)))
    kept.append((key, refs, paths, (tuple(found), submodules)))
    return found, submodules


# The facts object touched() last worked for (held, so no other object can take its id) and what
# it found for it: (updates, refs matcher, paths matcher, result). One entry: the rules of one
# decision run one after another; a replay's next change replaces it.
_LAST: list[Any] = []


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_PROBE]


def lines_of(data: bytes) -> list[bytes]:
    """A file's lines as git counts them: each ends at LF; a last line without one counts."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def what(touch: Touch) -> str:
    """Which commit brings which path, and how: "commit 1a2b3c4d5e on refs/heads/main adds w.bin"."""
    commit = touch.commit
    return (f"{'tree' if commit.oid == commit.tree else 'commit'} {short(commit.oid)} on {touch.update.name} "
            f"{_VERB[touch.status]} {show(touch.path)}")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"

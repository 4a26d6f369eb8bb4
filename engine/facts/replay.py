"""Facts about one update reconstructed from history (`policy replay`), read from one walk.

`policy replay` lists a ref's whole history once (engine/replay.py) and judges each
first-parent step as the push that would have made it. Asking git again for every step
(a `git log` per update) would cost 80,000 processes on a long history; instead each
step's commits are handed in, already walked and diffed, and everything else (trees, blobs,
notes, the policy's trusted files, live sources) is read as GitFacts reads it.

Which commits a step brings, per rule, as the hook decides (DESIGN.md): a rule without
`refs:` judges the commits not on any ref of the server before the update (`server`); a
rule with `refs:` judges `old..new` of the ref (`ref`), or for a created ref those not
on any ref of the server the rule matches (`created`, computed on demand). The server is
taken to hold the replayed refs, each at its value at the time of the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.change import Change, Commit, Inputs, RefUpdate
from engine.decision import Judged
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.policy.patterns import Matcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.policy.source import PolicySource

# (the update, the rule's refs) -> the commits new to the refs the rule matches, oldest first
CreatedWalk = Callable[[RefUpdate, Matcher], list[Commit]]


class ReplayFacts(GitFacts):
    """The Facts of one reconstructed update: its commits come from the replay's single walk."""

    def __init__(self, git: Git, change: Change, *, inputs: Inputs, policy: dict[str, Any],
                 source: PolicySource | None, server: list[Commit], ref: list[Commit],
                 server_refs: Sequence[tuple[bytes, str]], created: CreatedWalk,
                 current_refs: Callable[[], list[tuple[bytes, str]]]) -> None:
        """`server`: the commits new to the server; `ref`: the commits in old..new (both oldest
        first); `server_refs`: the replayed refs as they were before the update; `created`: the
        walk for a rule with refs: judging a created ref; `current_refs`: the repository's refs
        now, where records (notes) are read from."""
        super().__init__(git, change, server_refs=server_refs, server_label="the replayed refs before the update",
                         inputs=inputs, policy=policy, source=source)
        self._walks: dict[tuple[str, ...], list[Commit]] = {("server",): server, ("ref",): ref}
        self._created = created
        self._current_refs = current_refs
        self._described: set[tuple[str, ...]] = set()
        self._only = change.updates[0] if len(change.updates) == 1 else None
        self._only_kind = self._only.kind if self._only is not None else ""  # asked by every rule, once
        for commit in (*server, *ref):
            self._commits[commit.oid] = commit

    def refs(self) -> list[tuple[bytes, str]]:
        """The server's refs before the update: the replayed refs at that time."""
        return list(self._server or ())

    def notes_commit(self, kind: str) -> str | None:
        """Records are read as they are now (the repository's notes refs today): history does not
        keep the notes ref's value at each step. The replay report says so."""
        from engine import notes

        return notes.judged_commit((), self._current_refs(), kind)

    def prefetch(self) -> None:
        """Every walk is already loaded."""

    def is_fast_forward(self, update: RefUpdate) -> bool:
        """Old is an ancestor of new iff some commit of old..new has old as a parent."""
        return update.kind == "update" and any(update.old in c.parents for c in self._replayed(update, None, True)[1])

    def commits_for(self, update: RefUpdate, refs: Matcher | None) -> list[Commit]:
        return self._replayed(update, refs)[1]

    def changes_for(self, update: RefUpdate, refs: Matcher | None) -> dict[bytes, list[tuple[Commit, str]]]:
        key, commits = self._replayed(update, refs)
        index = self._index.get(key)
        if index is None:
            index = {}
            for commit in commits:
                for changed in commit.paths:
                    index.setdefault(changed.path, []).append((commit, changed.status))
            self._index[key] = index
        return index

    def _replayed(self, update: RefUpdate, refs: Matcher | None,
              as_ref: bool = False) -> tuple[tuple[str, ...], list[Commit]]:
        """(key, commits) of the walk a rule with `refs` judges; each walk is described once in
        judged() (a step is asked this by every rule: the description is built once)."""
        kind = self._only_kind if update is self._only else update.kind
        if kind == "deletion":
            return ("none",), []
        if refs is None and not as_ref:
            key: tuple[str, ...] = ("server",)
        elif kind == "update":
            key = ("ref",)
        else:
            patterns = refs.patterns if refs is not None else ()
            key = ("created", *patterns)
            if key not in self._walks:
                self._walks[key] = self._created(update, refs) if refs is not None else self._walks[("server",)]
                for commit in self._walks[key]:
                    self._commits[commit.oid] = commit
        commits = self._walks[key]
        if key not in self._described:
            self._described.add(key)
            if key[0] == "server":
                basis = f"{len(commits)} commit(s) not on the replayed refs before the update"
            elif key[0] == "ref":
                basis = f"{len(commits)} commit(s) in {update.old[:10]}..{update.new[:10]}"
            else:
                basis = (f"{len(commits)} commit(s) not on any replayed ref matching "
                         f"{', '.join(key[1:])} (a new ref)")
            self._judged.setdefault((update.ref, basis), Judged(update.name, basis, tuple(c.oid for c in commits)))
        return key, commits

"""`Facts` held as plain data: a change described without a git repository.

For unit tests of rule kinds, and for policy tests that describe changes in YAML. It does
not model history: each ref update brings exactly the commits it is given (for every rule,
with or without `refs:`), in the order given (oldest first, as git's walk lists them after
reversal). Everything a rule may ask is answerable from the data, and what the data does not
say is absent (no note, no trusted file), never invented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.change import Change, Commit, Inputs, RefUpdate
from engine.decision import Judged
from engine.facts.content import Blobs, ContentCache
from engine.facts.interface import ChangeFacts, TrustError
from engine.facts.live import LiveSources

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.attest import AllowedSigners
    from engine.identities import Identities
    from engine.notes import Loss
    from engine.policy.patterns import Matcher
    from engine.policy.source import PolicySource


class MemoryFacts(ChangeFacts, LiveSources):
    """Answers from what it was given: commits per updated ref, trees, notes, trusted files; live
    sources as the policy and `inputs.environ` name them."""

    measurement = False  # a described change, not a measurement of a running system

    def __init__(self, change: Change, *, brings: Mapping[bytes, Sequence[Commit]] | None = None,
                 known: Sequence[Commit] = (),
                 refs: Mapping[str, str] | None = None, trees: Mapping[str, Mapping[bytes, str]] | None = None,
                 types: Mapping[str, str] | None = None, blobs: Mapping[str, bytes] | None = None,
                 sizes: Mapping[str, int] | None = None,
                 notes: Mapping[str, Mapping[str, list[bytes]]] | None = None,
                 lost: Mapping[bytes, Sequence[Loss]] | None = None,
                 trusted_files: Mapping[str, bytes] | None = None, allowed_signers: AllowedSigners | None = None,
                 identities: Identities | None = None, inputs: Inputs | None = None,
                 policy: dict[str, Any] | None = None, source: PolicySource | None = None) -> None:
        """`brings`: the commits each ref update brings, by ref name; `known`: other commits that
        exist (an update's old tip); `refs`: full ref name -> object
        before the change; `trees`: tree -> {path: "mode oid"}; `types`: object -> type beyond the
        commits and trees given; `blobs`: blob -> contents; `sizes`: blob -> size, for blobs whose
        contents do not matter (a large file need not be held in memory); `notes`: kind -> object ->
        note lines, as the change leaves them; `lost`: what each update of a notes ref removes (an
        update not described here cannot be judged)."""
        self.change = change
        self.inputs = inputs or Inputs(now=0.0)
        self.policy = policy or {}
        self.source = source
        self._brings = {ref: list(commits) for ref, commits in (brings or {}).items()}
        self._commits = {c.oid: c for commits in (known, *self._brings.values()) for c in commits}
        self._refs = dict(refs or {})
        self._trees = {tree: dict(entries) for tree, entries in (trees or {}).items()}
        self._blobs = dict(blobs or {})
        self._sizes = {**{oid: len(data) for oid, data in self._blobs.items()}, **(sizes or {})}
        self._types = {**{oid: "blob" for oid in self._sizes}, **(types or {})}
        self._notes = {kind: dict(by_object) for kind, by_object in (notes or {}).items()}
        self._lost = {ref: list(losses) for ref, losses in (lost or {}).items()}
        self._trusted = dict(trusted_files or {})
        self._signers = allowed_signers
        self._identities = identities
        self._content = ContentCache(self.blob_sizes, self._read)

    def commits_for(self, update: RefUpdate, refs: Matcher | None) -> list[Commit]:
        return [] if update.kind == "deletion" else list(self._brings.get(update.ref, ()))

    def changes_for(self, update: RefUpdate, refs: Matcher | None) -> dict[bytes, list[tuple[Commit, str]]]:
        index: dict[bytes, list[tuple[Commit, str]]] = {}
        for commit in self.commits_for(update, refs):
            for changed in commit.paths:
                index.setdefault(changed.path, []).append((commit, changed.status))
        return index

    def is_fast_forward(self, update: RefUpdate) -> bool:
        """Old is an ancestor of new iff a brought commit has old as a parent."""
        return any(update.old in c.parents for c in self.commits_for(update, None))

    def tree(self, commit: str) -> str:
        known = self._commits.get(commit)
        if known is None:
            raise KeyError(f"commit {commit} is not described")
        return known.tree

    def ref(self, name: str) -> str | None:
        return self._refs.get(name)

    def object_types(self, oids: Sequence[str]) -> dict[str, str]:
        def kind(oid: str) -> str:
            if oid in self._commits:
                return "commit"
            if oid in self._trees:
                return "tree"
            return self._types.get(oid, "missing")

        return {oid: kind(oid) for oid in oids}

    def blob_sizes(self, oids: Sequence[str]) -> dict[str, int]:
        return {oid: self._sizes[oid] for oid in oids if oid in self._sizes}

    def small_blobs(self, oids: Sequence[str], below: int) -> dict[str, bytes]:
        """Contents as given; a blob described only by its size has none to give (absent)."""
        return {oid: self._blobs[oid] for oid in oids if oid in self._blobs and self._sizes[oid] < below}

    def blob_contents(self, oids: Sequence[str], *, max_blob: int, max_total: int, head: int = 0) -> Blobs:
        """Contents as given, with the same caps and accounting as from git; a blob described only
        by its size has no contents to give (missing)."""
        return self._content.read(oids, max_blob=max_blob, max_total=max_total, head=head)

    def cache_dir(self) -> str | None:
        """No server, no cache: a rule derives what it needs each time."""
        return None

    def _read(self, wanted: Sequence[tuple[str, int]]) -> list[tuple[str, int, bytes]]:
        return [(oid, self._sizes[oid], self._blobs[oid][:keep]) if oid in self._blobs else (oid, -1, b"")
                for oid, keep in wanted]

    def tree_entries(self, tree: str) -> dict[bytes, str] | None:
        entries = self._trees.get(tree)
        return None if entries is None else dict(entries)

    def prefetch(self) -> None:
        """Nothing to fetch: everything is in memory."""

    def judged(self) -> list[Judged]:
        return [Judged(u.name, f"{len(self.commits_for(u, None))} commit(s) described", tuple(
            c.oid for c in self.commits_for(u, None))) for u in self.updates if u.kind != "deletion"]

    def notes_on(self, kind: str, object_ids: Sequence[str]) -> dict[str, list[bytes]]:
        by_object = self._notes.get(kind, {})
        return {oid: list(by_object[oid]) for oid in object_ids if by_object.get(oid)}

    def notes(self, kind: str, object_id: str) -> list[bytes]:
        return self.notes_on(kind, [object_id]).get(object_id, [])

    def noted_objects(self, kind: str) -> list[str]:
        return [oid for oid, lines in self._notes.get(kind, {}).items() if lines]

    def lost_records(self, update: RefUpdate) -> list[Loss]:
        """As described; an update whose losses are not described fails (doubt denies)."""
        if update.ref not in self._lost:
            raise LookupError(f"what {update.name} removes from its notes is not described")
        return list(self._lost[update.ref])

    def trusted_file(self, path: str) -> bytes | None:
        return self._trusted.get(path)

    def allowed_signers(self) -> AllowedSigners:
        if self._signers is None:
            raise TrustError("no allowed signers are described")
        return self._signers

    def identities(self) -> Identities | None:
        return self._identities

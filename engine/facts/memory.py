"""`Facts` held as plain data: a change described without a git repository.

For unit tests of rule kinds, and for policy tests that describe changes in YAML
(engine/policytest). By default it does not model history: each ref update brings exactly
the commits it is given (for every rule, with or without `refs:`), in the order given (oldest
first, as git's walk lists them after reversal). With `history=True` it walks the commit
graph it was given as the hook walks git's: a rule without `refs:` judges the commits not
reachable from any ref before the change, a rule with `refs:` those in `old..new` (for a
created ref, those not reachable from an existing ref the rule matches). Everything a rule
may ask is answerable from the data, and what the data does not say is absent (no note, no
trusted file, no metric value), never invented: a live source that is not described fails
as an unreachable one does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.change import Change, Commit, CommitDetails, Inputs, RefUpdate, SignatureTrust
from engine.decision import Judged
from engine.facts.content import Blobs, ContentCache
from engine.facts.interface import ChangeFacts, TrustError
from engine.facts.live import LiveSources

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.attest import AllowedSigners
    from engine.facts.interface import PrometheusAPI
    from engine.facts.prometheus import ActiveAlert, QueryResult
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
                 identities: Identities | None = None, details: Mapping[str, CommitDetails] | None = None,
                 inputs: Inputs | None = None,
                 policy: dict[str, Any] | None = None, source: PolicySource | None = None,
                 history: bool = False, metrics: Mapping[str, float | None] | None = None,
                 workdir: str | None = None) -> None:
        """`brings`: the commits each ref update brings, by ref name; `known`: other commits that
        exist (an update's old tip); `refs`: full ref name -> object
        before the change; `trees`: tree -> {path: "mode oid"}; `types`: object -> type beyond the
        commits and trees given; `blobs`: blob -> contents; `sizes`: blob -> size, for blobs whose
        contents do not matter (a large file need not be held in memory); `notes`: kind -> object ->
        note lines, as the change leaves them; `lost`: what each update of a notes ref removes (an
        update not described here cannot be judged); `details`: commit -> its message and signature
        as verification would find it (a commit not described has no details); `history`: derive what each update brings
        from the graph of every commit given (see the module docstring) instead of `brings`;
        `metrics`: Prometheus query -> its value now (None: the query returns no data), for
        threshold rules (a query not listed fails as a broken query does; None: ask the server
        sources.prometheus names); `workdir`: the directory a CI job's files are read from (None:
        the process's working directory)."""
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
        self._history = history
        self._metrics = None if metrics is None else dict(metrics)
        self._workdir = workdir
        self._details = dict(details or {})
        self._content = ContentCache(self.blob_sizes, self._read)

    def commits_for(self, update: RefUpdate, refs: Matcher | None) -> list[Commit]:
        if update.kind == "deletion":
            return []
        if not self._history:
            return list(self._brings.get(update.ref, ()))
        if refs is None:
            exclude = list(self._refs.values())
        elif update.kind == "update":
            exclude = [update.old]
        else:
            exclude = [oid for name, oid in self._refs.items() if refs.match(name.encode("utf-8", "surrogateescape"))]
        hidden = self._reachable(exclude)
        return [self._commits[oid] for oid in self._ordered(update.new) if oid not in hidden]

    def _reachable(self, tips: Sequence[str]) -> set[str]:
        """Every described commit reachable from `tips` (commits not described end the walk)."""
        seen: set[str] = set()
        todo = [t for t in tips if t in self._commits]
        while todo:
            oid = todo.pop()
            if oid in seen:
                continue
            seen.add(oid)
            todo.extend(p for p in self._commits[oid].parents if p in self._commits)
        return seen

    def _ordered(self, tip: str) -> list[str]:
        """The commits reachable from `tip`, parents before children (as git's reversed walk)."""
        order: list[str] = []
        done: set[str] = set()
        stack: list[tuple[str, bool]] = [(tip, False)] if tip in self._commits else []
        while stack:
            oid, expanded = stack.pop()
            if expanded:
                order.append(oid)
                continue
            if oid in done:
                continue
            done.add(oid)
            stack.append((oid, True))
            stack.extend((p, False) for p in reversed(self._commits[oid].parents) if p in self._commits
                         and p not in done)
        return order

    def changes_for(self, update: RefUpdate, refs: Matcher | None) -> dict[bytes, list[tuple[Commit, str]]]:
        index: dict[bytes, list[tuple[Commit, str]]] = {}
        for commit in self.commits_for(update, refs):
            for changed in commit.paths:
                index.setdefault(changed.path, []).append((commit, changed.status))
        return index

    def is_fast_forward(self, update: RefUpdate) -> bool:
        """Old is an ancestor of new: a brought commit has old as a parent, or (with `history`)
        old is reachable from new in the graph given (new may already be on another ref)."""
        if self._history:
            return update.old != update.new and update.old in self._reachable([update.new])
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

    def commit_details(self, oids: Sequence[str], trust: SignatureTrust | None = None) -> dict[str, CommitDetails]:
        """As described; without `trust` no signature is given (as from git). With `trust`, a
        described signature stands for what verifying against the policy's trust would find."""
        return {oid: d if trust is not None else d._replace(signature=None)
                for oid in oids if (d := self._details.get(oid)) is not None}

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

    # --- live sources, as described (engine/facts/live.py asks real servers) ---

    def prometheus(self) -> PrometheusAPI:
        """The values described per query (`metrics`); without them, the server sources.prometheus names."""
        if self._metrics is None:
            return super().prometheus()
        return MemoryPrometheus(self._metrics)

    def working_file(self, path: str) -> str:
        """A file of the described working directory (`workdir`), FileNotFoundError naming it
        otherwise; without one, the process's working directory."""
        import os

        if self._workdir is None:
            return super().working_file(path)
        full = os.path.join(self._workdir, path)
        if os.path.isabs(path) or not os.path.isfile(full):
            raise FileNotFoundError(2, "no such file", path)
        return full


class MemoryPrometheus:
    """Answers queries from a table of values: each holds at every instant (a range query sees it
    over the whole window); a query not in the table is an error, as a broken query is."""

    def __init__(self, values: Mapping[str, float | None]) -> None:
        self.values = dict(values)

    def _value(self, query: str) -> float | None:
        from engine.facts.prometheus import PrometheusError

        if query not in self.values:
            raise PrometheusError("bad_query", f"no value is described for the query {query!r}")
        return self.values[query]

    def query(self, query: str, *, at: float) -> QueryResult:
        from engine.facts.prometheus import QueryResult, Sample, Series

        value = self._value(query)
        series = () if value is None else (Series((), (Sample(at, float(value)),)),)
        return QueryResult("vector", series)

    def query_range(self, query: str, *, start: float, end: float, step: float) -> QueryResult:
        from engine.facts.prometheus import QueryResult, Sample, Series

        value = self._value(query)
        if value is None:
            return QueryResult("matrix", ())
        count = int((end - start) // step) + 1
        samples = tuple(Sample(start + i * step, float(value)) for i in range(count))
        return QueryResult("matrix", (Series((), samples),))

    def alerts(self) -> tuple[ActiveAlert, ...]:
        """Not described: which alerts fire is never assumed (none firing would be an invented allow)."""
        from engine.facts.prometheus import PrometheusError

        raise PrometheusError("config", "no active alerts are described")

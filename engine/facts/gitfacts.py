"""Facts about a change that come from git, gathered lazily and cached.

Which commits a rule judges (DESIGN.md): a rule without `refs:` judges the commits
new to the server (`new --not <the server's refs>`); a rule with `refs:` judges the
commits new to that ref (`old..new`), or for a created ref those not reachable from
any of the server's refs the rule matches. In pre-receive, refs still hold their old
values. Every new ref value is peeled: a ref (or a tag chain) that ends in a tree is
judged like a root commit's tree, every path added; one that ends in a blob has no
paths, so a rule that needs them fails closed unless the policy says `blob_refs: allow`.
"""

from __future__ import annotations

from engine.change import Change, ChangedPath, Commit, CommitDetails, Inputs, RefUpdate, Signature, SignatureTrust
from engine.decision import Judged
from engine.facts.content import Blobs, ContentCache
from engine.facts.interface import ChangeFacts, TrustError, Unjudgeable
from engine.facts.live import LiveSources
from engine.git import Git, GitError, paused_collection
from engine.policy.patterns import Matcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from engine.attest import AllowedSigners
    from engine.identities import Identities
    from engine.notes import Loss
    from engine.policy.source import PolicySource

# Up to this many commits, one `git log` (parsed while git writes it) lists and diffs a range: the
# least CPU, since parallel diff-tree processes each inflate the same trees again (10,000 commits:
# ~25% more CPU, and no faster on a busy 2-core server). Beyond it the rest is diffed by
# rev-list + parallel diff-tree, whose wall time keeps a history of 80,000 commits in a hook's
# budget when the server has idle cores.
SMALL_PUSH = 20_000


class GitFacts(ChangeFacts, LiveSources):
    """The `engine.facts.interface.Facts` of a change, read from a git repository (and the live
    sources its policy names)."""

    # True for a measurement (engine/facts/measurement.py): no change and no repository, only
    # the running system at `now`; rules on live data judge it, no other rule applies.
    measurement = False

    def __init__(self, git: Git, change: Change, *, server_refs: Sequence[tuple[bytes, str]] | None = None,
                 server_label: str = "", inputs: Inputs | None = None,
                 policy: dict[str, Any] | None = None, source: PolicySource | None = None) -> None:
        """What the server already has: every ref of this repository (None: this repository is
        the server, as in the hook), or `server_refs`, (name, object) pairs as the server holds
        them (a clone: its push remote's tracking refs; a pull request: its base), described by
        `server_label` in explanations. `policy`/`source`: the compiled policy and its origin."""
        self.git = git
        self.change = change
        self.inputs = inputs or Inputs(now=_now())
        self.policy = policy or {}
        self.source = source
        self._server = list(server_refs) if server_refs is not None else None
        self._server_label = server_label
        self._signers: AllowedSigners | None = None
        self._identities: Identities | None = None
        self._notes: dict[tuple[str, str], list[bytes]] = {}
        self._trees: dict[str, str] = {}
        self._ranges: dict[tuple[str, ...], list[str]] = {}
        self._parents: dict[str, tuple[str, ...]] = {}
        self._commits: dict[str, Commit] = {}
        self._refs: list[tuple[bytes, str]] | None = None
        self._index: dict[tuple[str, ...], dict[bytes, list[tuple[Commit, str]]]] = {}
        self._same_as: dict[tuple[str, ...], tuple[str, ...]] = {}  # derived walk -> the walk it equals
        self._detailed: set[tuple[str, ...]] = set()  # walks whose commits are all loaded
        self._objects: dict[str, tuple[str, str] | None] = {}  # new value -> (peeled id, type)
        self._judged: dict[tuple[bytes, str], Judged] = {}
        self._entries: dict[str, dict[bytes, str] | None] = {}
        self._sizes: dict[str, int | None] = {}  # blob -> size (None: missing, or not a blob)
        self._raw: dict[str, tuple[str, str] | None] = {}  # commit -> (message, signature format); None: missing
        self._verified: dict[tuple[SignatureTrust, str], tuple[str, str, str]] = {}
        self._content = ContentCache(self.blob_sizes, self.git.read_blobs)

    def tree(self, commit: str) -> str:
        """The tree of a commit (records are bound to trees: a squash or rebase keeps them)."""
        if commit not in self._trees:
            known = self._commits.get(commit)
            self._trees[commit] = known.tree if known else self.git.tree_of(commit)
        return self._trees[commit]

    def trusted_file(self, path: str) -> bytes | None:
        """A file of the policy's trust domain (see PolicySource.trusted_file)."""
        return self.source.trusted_file(self.git, path) if self.source else None

    def allowed_signers(self) -> AllowedSigners:
        """Who may sign approvals and evidence: trust.allowed_signers, never from the change."""
        if self._signers is None:
            from engine.attest import AllowedSignersError, parse_allowed_signers

            path = (self.policy.get("trust") or {}).get("allowed_signers")
            if not path:
                raise TrustError("the policy names no trust.allowed_signers file")
            where = f"{self.source.ref}:{path}" if self.source and self.source.ref else path
            data = self.trusted_file(path)
            if data is None:
                raise TrustError(f"the allowed signers file {where} does not exist")
            try:
                self._signers = parse_allowed_signers(data.decode("utf-8", "replace"), source=where)
            except AllowedSignersError as exc:
                raise TrustError(str(exc)) from None
        return self._signers

    def identities(self) -> Identities | None:
        """Who is who (trust.identities): the administrator's mapping of people to their server user
        names, commit addresses and signing principals; never from the change. None when the
        policy names no such file; TrustError when it names one that is missing or invalid."""
        if self._identities is None:
            path = (self.policy.get("trust") or {}).get("identities")
            if not path:
                return None
            from engine.identities import IdentitiesError, load

            where = f"{self.source.ref}:{path}" if self.source and self.source.ref else path
            data = self.trusted_file(path)
            if data is None:
                raise TrustError(f"the identities file {where} does not exist")
            try:
                self._identities = load(data, where, self._cache_dir())
            except IdentitiesError as exc:
                more = f" (and {len(exc.problems) - 1} more problem(s))" if len(exc.problems) > 1 else ""
                raise TrustError(f"{exc.problems[0]}{more}") from None
        return self._identities

    def cache_dir(self) -> str | None:
        """Where rules may keep what they derive once per library version (engine/rules/secrets.py)."""
        return self._cache_dir()

    def _cache_dir(self) -> str | None:
        """The server's cache directory (administrator-owned), when it exists: the hook creates it
        for compiled policies; a clone has none, and a local check leaves no files behind."""
        import os

        from engine.prereceive import CACHE

        path = os.path.join(self.git.git_dir, CACHE)
        return path if os.path.isdir(path) else None

    def notes_commit(self, kind: str) -> str | None:
        """The notes commit records of `kind` are read from (engine.notes.judged_commit)."""
        from engine import notes

        return notes.judged_commit(self.updates, self.refs(), kind)

    def notes(self, kind: str, object_id: str) -> list[bytes]:
        """Lines of the changegate note of `kind` on `object_id` (see notes_on)."""
        return self.notes_on(kind, [object_id]).get(object_id, [])

    def notes_on(self, kind: str, object_ids: Sequence[str]) -> dict[str, list[bytes]]:
        """Lines of the notes of `kind` on each object that has one, from the notes ref as pushed
        in this change if the change updates it, else as it is now; every fan-out location
        counts (engine.notes.read). One git process for all objects not read yet."""
        from engine import notes

        missing = [oid for oid in dict.fromkeys(object_ids) if (kind, oid) not in self._notes]
        if missing:
            commit = self.notes_commit(kind)
            found = notes.read(self.git, commit, missing) if commit else {}
            for oid in missing:
                self._notes[(kind, oid)] = found.get(oid, [])
        return {oid: self._notes[(kind, oid)] for oid in object_ids if self._notes[(kind, oid)]}

    def noted_objects(self, kind: str) -> list[str]:
        """Every object with a note of `kind`, from the notes commit `notes_on` reads."""
        from engine import notes

        commit = self.notes_commit(kind)
        return notes.annotated(self.git, commit) if commit else []

    def lost_records(self, update: RefUpdate) -> list[Loss]:
        """Note lines that moving a notes ref from update.old to update.new would remove."""
        from engine import notes

        return notes.lost_records(self.git, update.old, update.new)

    def object_types(self, oids: Sequence[str]) -> dict[str, str]:
        """The type of each object (commit, tree, blob, tag), or "missing"; one process."""
        return {oid: found[1] if found else "missing" for oid, found in zip(oids, self.git.objects(oids), strict=True)}

    def blob_sizes(self, oids: Sequence[str]) -> dict[str, int]:
        """The size of each blob that exists; one `git cat-file` process for those not asked before."""
        todo = [o for o in dict.fromkeys(oids) if o not in self._sizes and _is_oid(o)]
        for oid, size in zip(todo, self.git.blob_sizes(todo), strict=True):
            self._sizes[oid] = size
        return {o: size for o in oids if (size := self._sizes.get(o)) is not None}

    def small_blobs(self, oids: Sequence[str], below: int) -> dict[str, bytes]:
        """The contents of each blob smaller than `below` bytes, read in one process; a larger blob
        is never read, so a rule cannot pull a big file into the hook's memory."""
        sizes = self.blob_sizes(oids)
        wanted = [o for o in dict.fromkeys(oids) if sizes.get(o, below) < below]
        return {oid: found[1] for oid, found in zip(wanted, self.git.blobs(wanted), strict=True) if found}

    def commit_details(self, oids: Sequence[str], trust: SignatureTrust | None = None) -> dict[str, CommitDetails]:
        """Each existing commit's message and, with `trust`, its signature as git verifies it against
        that trust alone (engine.git.Git.verify_commits). One `git cat-file` for the messages and one
        `git log` for the signatures of the commits not read before; a missing commit is absent."""
        wanted = [o for o in dict.fromkeys(oids) if _is_oid(o)]
        todo = [o for o in wanted if o not in self._raw]
        for oid, raw in zip(todo, self.git.commit_objects(todo), strict=True):
            self._raw[oid] = None if raw is None else parse_commit_object(raw)
        present = [o for o in wanted if self._raw[o] is not None]
        if trust is not None:
            unverified = [o for o in present if (trust, o) not in self._verified]
            for oid, found in zip(unverified, self.git.verify_commits(unverified, trust), strict=True):
                self._verified[(trust, oid)] = found
        details = {}
        for oid in present:
            message, form = self._raw[oid] or ("", "")
            signature = None
            if trust is not None:
                status, signer, key = self._verified[(trust, oid)]
                signature = Signature(status, form, signer, key)
            details[oid] = CommitDetails(message, signature)
        return details

    def blob_contents(self, oids: Sequence[str], *, max_blob: int, max_total: int, head: int = 0) -> Blobs:
        """Blob contents for content rules, streamed from one `git cat-file --batch` per call and
        read once per decision (engine.facts.content has the caps)."""
        return self._content.read(oids, max_blob=max_blob, max_total=max_total, head=head)

    def ref(self, name: str) -> str | None:
        """The object the ref with exactly this full name points at (never a guessed short name)."""
        return self.git.ref(name)

    def tree_entries(self, tree: str) -> dict[bytes, str] | None:
        """path -> "mode oid" of every blob in `tree`, or None if the tree is not in the repository."""
        if tree not in self._entries:
            try:
                out = self.git.run("ls-tree", "-r", "-z", "--full-tree", tree)
            except GitError:
                self._entries[tree] = None
                return None
            entries = {}
            for item in out.split(b"\0"):
                if item:
                    meta, _, path = item.partition(b"\t")
                    mode, _, rest = meta.partition(b" ")
                    entries[path] = f"{mode.decode()} {rest.partition(b' ')[2].decode()}"
            self._entries[tree] = entries
        return self._entries[tree]

    def refs(self) -> list[tuple[bytes, str]]:
        """Refs as they are before the change: (name, object id)."""
        if self._refs is None:
            self._refs = self.git.refs()
        return self._refs

    def prefetch(self) -> None:
        """Walk each update's new commits now (one `git log` for a small push).

        Called when some rule needs paths: later walks such as `old..new` and the
        fast-forward check are then usually derived from this one (see _derived_range)
        instead of costing another git process. A new value the walk did not list (a
        tag, a tree, a blob, a known commit) is then peeled, all in one process.
        """
        for update in self.updates:
            if update.kind != "deletion":
                key, include, exclude, all_refs = self._walk(update, None)
                self._range(key, include, exclude, details=True, all_refs=all_refs)
        self._peel([u.new for u in self.updates if u.kind != "deletion"])

    def is_fast_forward(self, update: RefUpdate) -> bool:
        """Old is an ancestor of new iff some commit in old..new has old as a parent.

        Derived from the `old..new` walk that ref rules need anyway: no extra git process.
        A tree or blob walks to nothing, so it is never a fast-forward.
        """
        oids = self._range(("range", update.new, update.old), [update.new], [update.old], details=False)
        return any(update.old in self._parents[o] for o in oids)

    def commits_for(self, update: RefUpdate, refs: Matcher | None) -> list[Commit]:
        """The commits `update` brings, as judged by a rule with these `refs` (None: no refs:)."""
        _, oids = self._walk_for(update, refs)
        return [self._commits[o] for o in oids]

    def changes_for(self, update: RefUpdate, refs: Matcher | None) -> dict[bytes, list[tuple[Commit, str]]]:
        """Each path those commits change, with (commit, status) per change, in commit order.

        Rules match each distinct path once instead of once per commit that touches it:
        10,000 commits usually change a few thousand distinct paths.
        """
        key, oids = self._walk_for(update, refs)
        key = self._same_as.get(key, key)
        index = self._index.get(key)
        if index is None:
            index = {}
            with paused_collection():  # a list and a tuple per path: nothing in a cycle to collect
                for oid in oids:
                    commit = self._commits[oid]
                    if not index:  # the first commit (often the only one) names each path once
                        index = {changed.path: [(commit, changed.status)] for changed in commit.paths}
                        continue
                    for changed in commit.paths:
                        index.setdefault(changed.path, []).append((commit, changed.status))
            self._index[key] = index
        return index

    def judged(self) -> list[Judged]:
        """Which commits were judged for each ref update, and on what basis, in walk order."""
        return list(self._judged.values())

    def _walk_for(self, update: RefUpdate, refs: Matcher | None) -> tuple[tuple[str, ...], list[str]]:
        if update.kind == "deletion":
            return ("none",), []
        oid, kind = self._object(update)
        if kind == "tree":
            return self._tree_walk(update, oid)
        if kind != "commit":
            basis = f"a {kind} {oid[:10]}, which has no paths"
            self._judged.setdefault((update.ref, basis), Judged(update.name, basis, ()))
            if self.policy.get("blob_refs") == "allow":
                return ("none",), []
            raise Unjudgeable(f"{update.name} points at a {kind} ({oid[:10]}), which has no paths to judge")
        key, include, exclude, all_refs = self._walk(update, refs)
        oids = self._range(key, include, exclude, details=True, all_refs=all_refs)
        basis = f"{len(oids)} commit(s) {self._basis(key, refs)}"
        self._judged.setdefault((update.ref, basis), Judged(update.name, basis, tuple(oids)))
        return key, oids

    def _walk(self, update: RefUpdate, refs: Matcher | None) -> tuple[tuple[str, ...], list[str], list[str], bool]:
        """(cache key, include, exclude, exclude every ref) of the walk a rule with `refs` judges."""
        if refs is None and self._server is None:
            return ("new", update.new), [update.new], [], True
        if refs is None:
            known = list(dict.fromkeys(oid for _, oid in self._server or ()))
            return ("known", update.new, *known), [update.new], known, False
        if update.kind == "update":
            return ("range", update.new, update.old), [update.new], [update.old], False
        targets = self._targets(refs)
        return ("create", update.new, *targets), [update.new], targets, False

    def _basis(self, key: tuple[str, ...], refs: Matcher | None) -> str:
        if key[0] == "new":
            return "not on any ref of the repository"
        if key[0] == "known":
            return f"not on {self._server_label or 'the server'}"
        if key[0] == "range":
            return f"in {key[2][:10]}..{key[1][:10]}"
        patterns = ", ".join(refs.patterns) if refs else ""
        return f"not on any existing ref matching {patterns} (a new ref)"

    def _object(self, update: RefUpdate) -> tuple[str, str]:
        """(peeled object id, its type) of the update's new value."""
        known = self._commits.get(update.new)
        if known is not None and known.oid != known.tree:  # walked as a commit (a tree's oid is its own tree)
            return update.new, "commit"
        self._peel([update.new])
        found = self._objects[update.new]
        return found if found is not None else (update.new, "missing object")

    def _peel(self, oids: Sequence[str]) -> None:
        todo = [o for o in dict.fromkeys(oids) if o not in self._objects and o not in self._commits]
        for oid, found in zip(todo, self.git.objects(todo, peel=True), strict=True):
            self._objects[oid] = found

    def _tree_walk(self, update: RefUpdate, tree: str) -> tuple[tuple[str, ...], list[str]]:
        """A ref that ends in a tree brings every path of that tree, like a root commit."""
        key = ("tree", tree)
        if key not in self._ranges:
            paths = tuple(ChangedPath(path, "A", oid, mode) for path, mode, oid in self.git.tree_paths(tree))
            self._remember([Commit(tree, tree, (), "", "", paths)])
            self._ranges[key] = [tree]
            self._detailed.add(key)
        basis = f"tree {tree[:10]} (not a commit): every path judged, as in a root commit"
        self._judged.setdefault((update.ref, basis), Judged(update.name, basis, (tree,)))
        return key, self._ranges[key]

    def _targets(self, refs: Matcher) -> list[str]:
        """Objects of the server's refs that `refs` matches (what a created ref is compared with)."""
        server = self.refs() if self._server is None else self._server
        return [oid for name, oid in server if refs.match(name)]

    def _range(self, key: tuple[str, ...], include: Sequence[str], exclude: Sequence[str], *,
               details: bool, all_refs: bool = False) -> list[str]:
        """Commit ids of a walk, cached by its key; with `details`, their commits are loaded too.

        The first detailed walk is one `git log`; later walks list ids with rev-list and
        load only commits not seen yet, so overlapping ranges are diffed once.
        """
        if key not in self._ranges and not all_refs and len(include) == 1:
            derived = self._derived_range(include[0], set(exclude))
            if derived is not None:
                self._same_as[key], self._ranges[key] = derived
        if key not in self._ranges:
            listed = None
            if details and not self._commits:
                commits = self.git.log(include, exclude=exclude, exclude_all_refs=all_refs, limit=SMALL_PUSH + 1)
                self._remember(commits)
                if len(commits) <= SMALL_PUSH:
                    listed = [c.oid for c in commits]
            if listed is None:
                diffed: list[Commit] = []
                if details:  # listed and diffed in one pipeline: rev-list's walk is no phase of its own
                    walked, diffed = self.git.walk(include, exclude=exclude, exclude_all_refs=all_refs,
                                                   known=self._commits)
                else:
                    walked = self.git.rev_list(include, exclude=exclude, exclude_all_refs=all_refs)
                self._parents.update(walked)
                self._remember(diffed)  # after: parents then share the commits' tuples (80,000: ~10 MB)
                listed = [oid for oid, _ in walked]
            self._ranges[key] = listed
        oids = self._ranges[key]
        if details and self._same_as.get(key, key) not in self._detailed:
            self._remember(self.git.commits([o for o in oids if o not in self._commits]))
            self._detailed.add(self._same_as.get(key, key))
        return oids

    def _derived_range(self, new: str, exclude: set[str]) -> tuple[tuple[str, ...], list[str]] | None:
        """`new --not <exclude>` from an already walked `new --not <refs>` N, when exact.

        N excludes at least as much, so N is contained in the wanted walk. If N is
        non-empty and its boundary (parents outside N) lies within `exclude`, every
        path from `new` that leaves N enters excluded history; so the walk is N. The
        usual push (`old..new` with N's boundary = {old}) then costs no git process.
        """
        for key, oids in self._ranges.items():
            if key[0] in ("new", "known") and key[1] == new and oids:
                inside = set(oids)
                if all(p in inside or p in exclude for o in oids for p in self._parents[o]):
                    return key, oids
        return None

    def _remember(self, commits: list[Commit]) -> None:
        for commit in commits:
            self._commits[commit.oid] = commit
            self._parents[commit.oid] = commit.parents


_SIGNATURE_FORMATS = ((b"-----BEGIN SSH SIGNATURE-----", "ssh"), (b"-----BEGIN PGP SIGNATURE-----", "gpg"),
                      (b"-----BEGIN SIGNED MESSAGE-----", "x509"))


def parse_commit_object(raw: bytes) -> tuple[str, str]:
    """(message, signature format) of a raw commit object: the message is everything after the
    first blank line; the format is named by the first line of its `gpgsig` (SHA-1) or
    `gpgsig-sha256` header: ssh, gpg, x509, "unknown" for another, "" when there is none."""
    header, _, message = raw.partition(b"\n\n")
    form = ""
    for line in header.split(b"\n"):
        name, _, value = line.partition(b" ")
        if name in (b"gpgsig", b"gpgsig-sha256"):
            form = next((f for armour, f in _SIGNATURE_FORMATS if value.strip() == armour), "unknown")
            break
    return message.decode("utf-8", "replace"), form


def _is_oid(text: str) -> bool:
    """A full object id (SHA-1 or SHA-256): never anything git could read as a revision expression."""
    return len(text) in (40, 64) and not text.strip("0123456789abcdef")


def _now() -> float:
    import time

    return time.time()


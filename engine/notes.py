"""Signed records kept as git notes: evidence and approvals, one DSSE envelope per line.

Notes annotate the *tree* a record is about, so a squash, merge or rebase that keeps
the tree keeps the record. Refs: refs/notes/changegate/{evidence,approvals}. Pushing
that ref is how records reach a server; the hook also reads records pushed in the
same push (the new notes commit, still in quarantine).

Two rules make a record, once the server has it, impossible to take away by a push:

* Reading: the note on an object may sit at several fan-out paths at once (`<oid>`,
  `ab/<rest>`, `ab/cd/<rest>` ...). git itself reads one of them; changegate reads the
  UNION of the lines at every location, so a note added elsewhere cannot shadow a veto.
* Writing: changegate's notes refs only grow (`lost_records`, judged for every push by
  the built-in rule in engine/rules/records.py): no deletion, no non-fast-forward, no
  update after which an annotated object has lost a line of its note.
"""

from __future__ import annotations

from engine.git import Git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import NamedTuple

    from engine.change import RefUpdate
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing

NOTES_REFS = {"evidence": "refs/notes/changegate/evidence", "approvals": "refs/notes/changegate/approvals"}
PREFIX = b"refs/notes/changegate/"  # every ref below it only grows, whatever the policy says


def only_grows(ref: bytes) -> bool:
    """Whether `ref` is one of changegate's records refs. Compared case-insensitively: on a server
    whose file system folds case, refs/notes/Changegate/approvals is the same file."""
    return ref.lower().startswith(PREFIX)


def fanout_paths(object_id: str) -> list[str]:
    """Where git may store the note for `object_id`: flat, or under 2-hex-digit directories."""
    return [object_id] + ["/".join([*(object_id[i:i + 2] for i in range(0, 2 * depth, 2)), object_id[2 * depth:]])
                          for depth in range(1, 4)]


def judged_commit(updates: Sequence[RefUpdate], refs: Iterable[tuple[bytes, str]], kind: str) -> str | None:
    """The notes commit a judge reads for `kind`: the one this change pushes to the notes ref
    (records pushed with the change count), else the ref's current value; None without either."""
    ref = NOTES_REFS[kind].encode()
    pushed = [u.new for u in updates if u.ref == ref and u.kind != "deletion"]
    if pushed:
        return pushed[0]
    return next((oid for name, oid in refs if name == ref), None)


def read(git: Git, notes_commit: str, object_ids: Sequence[str]) -> dict[str, list[bytes]]:
    """The lines of the note on each object that has one, in one git process.

    A line counts wherever it is stored: the union over every fan-out location, in
    order of first appearance, each line once (a record is one line; copies add nothing).
    """
    return _read_many(git, [(notes_commit, oid) for oid in dict.fromkeys(object_ids)])


def read_lines(git: Git, notes_commit: str, object_id: str) -> list[bytes]:
    """Non-empty lines of the note on `object_id` in notes commit `notes_commit`."""
    return read(git, notes_commit, [object_id]).get(object_id, [])


def annotated(git: Git, notes_commit: str) -> list[str]:
    """Object ids that have a note in a notes commit (fan-out directories undone)."""
    out = git.run("ls-tree", "-r", "-z", "--name-only", notes_commit)
    ids = [_object_id(raw) for raw in out.split(b"\0")]
    return list(dict.fromkeys(oid for oid in ids if oid))


def add(git: Git, kind: str, object_id: str, envelope: bytes) -> None:
    if b"\n" in envelope:
        raise ValueError("an envelope is stored as one line of JSON")
    git.append_note(NOTES_REFS[kind], object_id, envelope)


# --- records only grow -------------------------------------------------------------


class Loss(NamedTuple):
    """An annotated object whose note loses lines in an update of a notes ref."""

    object_id: str
    lost: tuple[bytes, ...]  # lines in the old note that no location of the new one holds
    before: int  # how many lines the old note had


def lost_records(git: Git, old: str, new: str) -> list[Loss]:
    """What moving a notes ref from commit `old` to commit `new` takes away.

    Only what changed is compared (`diff-tree` of the two trees), so a large notes
    tree stays cheap; objects are compared by the id they annotate, whatever the
    fan-out layout, so re-fanning out is fine as long as every line survives.
    Added paths cannot lose anything (readers take the union), so only deleted,
    modified and type-changed entries are looked at.
    """
    out = git.run("diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", f"{old}^{{tree}}",
                  f"{new}^{{tree}}")
    touched: list[str] = []
    tokens = out.split(b"\0")
    for meta, path in zip(tokens[0::2], tokens[1::2], strict=False):
        if meta[-1:] != b"A":
            oid = _object_id(path)
            if oid:
                touched.append(oid)
    if not touched:
        return []
    touched = list(dict.fromkeys(touched))
    lines = _read_many(git, [(commit, oid) for commit in (old, new) for oid in touched], keyed_by_commit=True)
    losses = []
    for oid in touched:
        before = lines.get(f"{old} {oid}", [])
        kept = set(lines.get(f"{new} {oid}", []))
        lost = tuple(line for line in before if line not in kept)
        if lost:
            losses.append(Loss(oid, lost, len(before)))
    return losses


def object_types(git: Git, oids: Sequence[str]) -> dict[str, str]:
    """The type of each object (commit, tree, blob, tag), or "missing"; one process."""
    return {oid: found[1] if found else "missing" for oid, found in zip(oids, git.objects(oids), strict=True)}


# From this many (notes commit, object) pairs on, listing the notes trees beats asking
# cat-file for four COMMIT:PATH specs per object: git reads the notes tree anew for each
# spec (1,000 objects: ~0.5 s against ~0.1 s listed; bench/pygit2_bench.py).
MANY = 64


def _read_many(git: Git, wanted: Sequence[tuple[str, str]], *,
               keyed_by_commit: bool = False) -> dict[str, list[bytes]]:
    """Union of the lines at every fan-out location, per (notes commit, object) pair."""
    if not wanted:
        return {}
    specs = [(commit, oid, path) for commit, oid in wanted for path in fanout_paths(oid)]
    if len(wanted) < MANY:
        blobs = git.blobs([f"{commit}:{path}" for commit, _, path in specs])
    else:
        blobs = _listed_blobs(git, specs)
    found: dict[str, dict[bytes, None]] = {}
    for (commit, oid, _), blob in zip(specs, blobs, strict=True):
        if blob is not None:
            key = f"{commit} {oid}" if keyed_by_commit else oid
            lines = found.setdefault(key, {})
            for line in blob[1].splitlines():
                if line.strip():
                    lines[line.strip()] = None
    return {key: list(lines) for key, lines in found.items() if lines}


def _listed_blobs(git: Git, specs: Sequence[tuple[str, str, str]]) -> list[tuple[str, bytes] | None]:
    """What git.blobs gives for each COMMIT:PATH of `specs` (commit, object, path), for many objects.

    Per notes commit: its top level (flat notes) and, recursively, the fan-out directories
    of the wanted objects (two ls-tree processes); then the blobs at those exact paths by
    id in one cat-file. Paths other than the fan-out locations are never read.
    """
    at: dict[tuple[str, bytes], str] = {}
    for commit in dict.fromkeys(commit for commit, _, _ in specs):
        dirs = sorted({oid[:2] for c, oid, _ in specs if c == commit and oid[:2]})
        listing = git.run("ls-tree", "-z", "--full-tree", commit)
        listing += b"\0" + git.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *dirs)
        for item in listing.split(b"\0"):
            meta, tab, path = item.partition(b"\t")  # "<mode> <type> <id>" TAB path
            fields = meta.split(b" ")
            if tab and len(fields) == 3 and fields[1] == b"blob":
                at[(commit, path)] = fields[2].decode("ascii")
    ids = [at.get((commit, path.encode("utf-8", "surrogateescape"))) for commit, _, path in specs]
    data = {found[0]: found for found in git.blobs(sorted({i for i in ids if i})) if found}
    return [data.get(i) if i else None for i in ids]


def _object_id(path: bytes) -> str | None:
    """The object a notes-tree path annotates (its hex digits with the fan-out slashes removed)."""
    name = path.replace(b"/", b"")
    if len(name) in (40, 64) and all(c in b"0123456789abcdef" for c in name):
        return name.decode("ascii")
    return None

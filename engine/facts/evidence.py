"""Dry-run evidence candidates for a tree, and which of them are accepted.

The candidates are the lines of the evidence note on the tree (as pushed in this change
when the change updates the notes ref), every --evidence file, and with `paths` the notes
on other trees too (they count when the listed subtrees are identical). Each is judged
by engine.records.evidence.

Cheap to import (the push hook imports it): engine.records.evidence, and engine.attest
behind it, are imported only when there is a candidate to verify.
"""

from __future__ import annotations

from engine.evidence import NOTES_KIND, Accepted, Rejected

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.facts.interface import Facts
    from engine.policy.patterns import Matcher

MAX_CANDIDATES = 1000  # envelopes judged per tree; beyond that, counted and left out


def find_evidence(facts: Facts, tree: str, *, result: str | None = "passed", env: str | None = None,
                  max_age: float | None = None, signers: Sequence[str] | None = None,
                  paths: Matcher | None = None) -> tuple[list[Accepted], list[Rejected]]:
    """Judge every candidate for `tree`: the lines of the evidence note on it (as pushed in this
    change when the change updates the notes ref), every --evidence file, and with `paths` the
    notes on other trees too (they count when the listed subtrees are identical).

    Keys come from the policy's trust.allowed_signers (facts.allowed_signers(), raising
    engine.facts.interface.TrustError when it is missing or malformed); never from the change.
    """
    candidates = gather(facts, tree, everywhere=paths is not None)
    if not candidates:
        return [], []
    from engine.records.evidence import judge_envelope

    allowed = facts.allowed_signers()
    subtrees = None
    if paths is not None:
        matcher = paths

        def subtrees(other: str) -> str | None:
            return subtree_difference(facts, tree, other, matcher)
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for source, raw in candidates[:MAX_CANDIDATES]:
        if isinstance(raw, Rejected):
            rejected.append(raw)
            continue
        verdict = judge_envelope(raw, source, allowed=allowed, now=facts.now, tree=tree, result=result,
                                 env=env, max_age=max_age, signers=signers, subtrees=subtrees)
        if isinstance(verdict, Accepted):
            accepted.append(verdict)
        else:
            rejected.append(verdict)
    if len(candidates) > MAX_CANDIDATES:
        rejected.append(Rejected("evidence notes", "not-examined",
                                 f"{len(candidates) - MAX_CANDIDATES} more candidate(s) were not examined"))
    return accepted, rejected


def gather(facts: Facts, tree: str, *, everywhere: bool = False) -> list[tuple[str, bytes | Rejected]]:
    """(source, envelope) candidates for `tree`: its note, then (with `everywhere`) notes on
    other trees, then --evidence files; an unreadable file is a Rejected in place of bytes."""
    found: list[tuple[str, bytes | Rejected]] = []
    lines = facts.notes(NOTES_KIND, tree)
    found += [(_note_source(tree, n, len(lines)), line) for n, line in enumerate(lines, start=1)]
    if everywhere:
        others = [t for t in facts.noted_objects(NOTES_KIND) if t != tree][:MAX_CANDIDATES]
        noted = facts.notes_on(NOTES_KIND, others)
        for other in others:
            lines = noted.get(other, [])
            found += [(_note_source(other, n, len(lines)), line) for n, line in enumerate(lines, start=1)]
    for path in facts.inputs.evidence_files:
        found += file_candidates(path)
    return found


def file_candidates(path: str) -> list[tuple[str, bytes | Rejected]]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return [(f"file {path}", Rejected(f"file {path}", "malformed", f"cannot read it: {exc.strerror}"))]
    envelopes = envelopes_in(data)
    if not envelopes:
        return [(f"file {path}", Rejected(f"file {path}", "malformed", "it is empty"))]
    if len(envelopes) == 1:
        return [(f"file {path}", envelopes[0][1])]
    return [(f"file {path}, line {n}", raw) for n, raw in envelopes]


def _note_source(tree: str, number: int, count: int) -> str:
    return f"note on tree {_short(tree)}" + (f" (line {number})" if count > 1 else "")


def subtree_difference(facts: Facts, tree: str, other: str, paths: Matcher) -> str | None:
    """None when every path matching `paths` has the same blob (and mode) in both trees;
    otherwise what differs, for the explanation."""
    mine, theirs = _listing(facts, tree, paths), _listing(facts, other, paths)
    if theirs is None:
        return f"tree {_short(other)} is not in this repository"
    if mine is None:
        return f"tree {_short(tree)} is not in this repository"
    differing = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
    if not differing:
        return None
    shown = ", ".join(_describe_difference(p, mine, theirs) for p in differing[:3])
    return shown + (f" and {len(differing) - 3} more" if len(differing) > 3 else "")


def _describe_difference(path: bytes, mine: dict[bytes, str], theirs: dict[bytes, str]) -> str:
    from engine.change import show

    if path not in theirs:
        return f"{show(path)} (only in the judged tree)"
    if path not in mine:
        return f"{show(path)} (only in the evidence's tree)"
    return f"{show(path)} (changed)"


def _listing(facts: Facts, tree: str, paths: Matcher) -> dict[bytes, str] | None:
    """path -> "mode oid" of every blob of `tree` that `paths` matches."""
    entries = facts.tree_entries(tree)
    return None if entries is None else {p: e for p, e in entries.items() if paths.match(p)}


# --------------------------------------------------------------------------- files of envelopes

def envelopes_in(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, envelope JSON) in a file: one JSON document (pretty-printed or not),
    a JSON list of envelopes, or JSON lines (one envelope per line, as notes store them)."""
    import json

    try:
        whole = json.loads(data)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return [(1, data.strip())]
    if isinstance(whole, list):
        return [(i, json.dumps(e).encode()) for i, e in enumerate(whole, start=1)]
    return [(n, line.strip()) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]


def _short(oid: str) -> str:
    return oid[:12]

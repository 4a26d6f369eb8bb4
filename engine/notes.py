"""Signed records kept as git notes: evidence and approvals, one DSSE envelope per line.

Notes annotate the *tree* a record is about, so a squash, merge or rebase that keeps
the tree keeps the record. Refs: refs/notes/changegate/{evidence,approvals}. Pushing
that ref is how records reach a server; the hook also reads records pushed in the
same push (the new notes commit, still in quarantine).
"""

from __future__ import annotations

from engine.git import Git

NOTES_REFS = {"evidence": "refs/notes/changegate/evidence", "approvals": "refs/notes/changegate/approvals"}


def fanout_paths(object_id: str) -> list[str]:
    """Where git may store the note for `object_id`: flat, or under 2-hex-digit directories."""
    return [object_id] + ["/".join([*(object_id[i:i + 2] for i in range(0, 2 * depth, 2)), object_id[2 * depth:]])
                          for depth in range(1, 4)]


def read_lines(git: Git, notes_commit: str, object_id: str) -> list[bytes]:
    """Non-empty lines of the note on `object_id` in notes commit `notes_commit` (one process)."""
    for found in git.blobs([f"{notes_commit}:{path}" for path in fanout_paths(object_id)]):
        if found is not None:
            return [line.strip() for line in found[1].splitlines() if line.strip()]
    return []


def add(git: Git, kind: str, object_id: str, envelope: bytes) -> None:
    if b"\n" in envelope:
        raise ValueError("an envelope is stored as one line of JSON")
    git.append_note(NOTES_REFS[kind], object_id, envelope)

"""Records stay when a push rewrites many notes at once (issue 9, class 5, at scale).

A notes update that touches 32 or more annotated objects is compared by listing the notes
trees rather than one lookup per location (engine/notes.py, MANY). The attacker re-fans
out every note of a large notes ref in one fast-forward, drops one record line on the
way, and hides that line where git would never read it (a path that is not a fan-out
location of its object). The push is rejected; the same rewrite keeping every line passes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers.repos import Clone, git, protected

NOTES = "refs/notes/changegate/approvals"
POLICY = "version: 1\nname: many-records\nrules:\n  - id: main-linear\n    refs: [refs/heads/main]\n" \
         "    deny: [deletion]\n"
OBJECTS = [hashlib.sha1(f"tree {n}".encode()).hexdigest() for n in range(40)]


def notes_commit(clone: Clone, files: dict[str, bytes], *, parent: str = "") -> str:
    """A commit on the clone's notes ref whose tree holds exactly `files`."""
    stream = bytearray(f"commit {NOTES}\ncommitter T <t@example.com> 1700000000 +0000\ndata 5\nnotes\n".encode())
    if parent:
        stream += f"from {parent}\ndeleteall\n".encode()
    for path, body in files.items():
        stream += f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n"
    git("fast-import", "--quiet", "--force", cwd=clone.path, stdin=bytes(stream + b"\n"))
    return git("rev-parse", NOTES, cwd=clone.path).out.strip()


def record(n: int) -> bytes:
    return f'{{"record": {n}, "decision": "CHANGES_REQUESTED"}}\n'.encode()


def server_with_many_records(tmp_path: Path) -> tuple[Clone, str]:
    server, clone = protected(tmp_path, POLICY)
    base = notes_commit(clone, {oid: record(n) for n, oid in enumerate(OBJECTS)})  # flat layout
    result = clone.push(f"{NOTES}:{NOTES}")
    assert result.code == 0, result.out
    assert server.rev(NOTES) == base
    return clone, base


def refanned(lines: dict[str, bytes]) -> dict[str, bytes]:
    """Every note moved from the flat path to the one-level fan-out path (aa/bbbb...)."""
    return {f"{oid[:2]}/{oid[2:]}": body for oid, body in lines.items()}


def test_a_mass_refanout_that_drops_one_record_is_rejected(tmp_path: Path) -> None:
    clone, base = server_with_many_records(tmp_path)
    lines = {oid: record(n) for n, oid in enumerate(OBJECTS)}
    victim = OBJECTS[17]
    lines[victim] = b"{}\n"  # the veto line is gone from its note...
    files = refanned(lines)
    files[f"{victim[:1]}/{victim[1:]}"] = record(17)  # ...and kept only where no reader looks
    notes_commit(clone, files, parent=base)
    result = clone.push(f"{NOTES}:{NOTES}")
    assert result.code != 0, result.out
    assert "changegate-records" in result.out and "1 record line(s) would disappear" in result.out
    assert victim[:12] in result.out


def test_the_same_refanout_keeping_every_record_passes(tmp_path: Path) -> None:
    clone, base = server_with_many_records(tmp_path)
    notes_commit(clone, refanned({oid: record(n) for n, oid in enumerate(OBJECTS)}), parent=base)
    result = clone.push(f"{NOTES}:{NOTES}")
    assert result.code == 0, result.out

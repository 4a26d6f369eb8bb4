"""engine.notes reading many objects: listing the notes tree gives what COMMIT:PATH lookups give."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine import notes
from engine.git import Git
from tests.helpers.repos import git


def _oid(n: int) -> str:
    return hashlib.sha1(f"object {n}".encode()).hexdigest()


def _notes_commit(repo: Path, files: dict[str, bytes], gitlinks: tuple[str, ...] = (), parent: str = "") -> str:
    """A commit on refs/notes/changegate/approvals whose tree holds exactly `files` (and gitlinks)."""
    stream = bytearray(b"commit refs/notes/changegate/approvals\ncommitter T <t@example.com> 1700000000 +0000\n"
                       b"data 5\nnotes\n")
    if parent:
        stream += f"from {parent}\ndeleteall\n".encode()
    for path, body in files.items():
        stream += f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n"
    for path in gitlinks:
        stream += f"M 160000 {_oid(0)} {path}\n".encode()
    git("fast-import", "--quiet", "--force", cwd=repo, stdin=bytes(stream + b"\n"))
    return git("rev-parse", "refs/notes/changegate/approvals", cwd=repo).out.strip()


@pytest.fixture
def layouts(tmp_path: Path) -> tuple[Git, str, list[str]]:
    """Notes on 100 objects in every layout a pusher can write, and ten objects without one."""
    repo = tmp_path / "r.git"
    git("init", "-q", "--bare", str(repo), cwd=tmp_path)
    oids = [_oid(n) for n in range(1, 111)]
    files: dict[str, bytes] = {}
    gitlinks = []
    for n, oid in enumerate(oids[:100]):
        flat, one, two, three = notes.fanout_paths(oid)
        match n % 8:
            case 0:
                files[flat] = f"flat {n}\n".encode()
            case 1:
                files[one] = f"one {n}\n\n  padded {n}  \n".encode()
            case 2:  # the same line twice, and a line only the deeper location holds
                files[one] = f"shared {n}\nfirst {n}\n".encode()
                files[two] = f"second {n}\nshared {n}\n".encode()
            case 3:
                files[three] = f"three {n}\n".encode()
            case 4:  # not a fan-out location: never read
                files[f"{oid[:1]}/{oid[1:]}"] = f"odd {n}\n".encode()
                files[flat] = f"kept {n}\n".encode()
            case 5:  # a tree at the flat location and a submodule link at another: not notes
                files[f"{flat}/x"] = f"inside {n}\n".encode()
                gitlinks.append(one)
                files[two] = f"real {n}\n".encode()
            case 6:
                files[flat] = b"\n \n"  # blank only: no note
            case _:
                files[flat] = f"both {n}\n".encode()
                files[one] = f"both {n}\nmore {n}\n".encode()
    commit = _notes_commit(repo, files, tuple(gitlinks))
    return Git(str(repo)), commit, oids


def test_listing_the_notes_tree_reads_what_looking_up_each_path_reads(
        layouts: tuple[Git, str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, commit, oids = layouts
    monkeypatch.setattr(notes, "MANY", len(oids) + 1)
    looked_up = notes.read(repo, commit, oids)
    monkeypatch.setattr(notes, "MANY", 1)
    listed = notes.read(repo, commit, oids)
    assert listed == looked_up
    assert len(listed) == 100 - len(range(6, 100, 8))  # every note but the blank-only ones
    assert listed[oids[1]] == [b"one 1", b"padded 1"]
    assert listed[oids[2]] == [b"shared 2", b"first 2", b"second 2"]
    assert listed[oids[4]] == [b"kept 4"]
    assert listed[oids[5]] == [b"real 5"]
    assert listed[oids[7]] == [b"both 7", b"more 7"]


def test_many_objects_are_read_by_listing(layouts: tuple[Git, str, list[str]]) -> None:
    """Above the threshold the listing serves (a handful of processes, not four lookups per object)."""
    repo, commit, oids = layouts
    assert len(oids) >= notes.MANY
    specs = [(commit, oid, path) for oid in oids for path in notes.fanout_paths(oid)]
    assert notes._listed_blobs(repo, specs) == repo.blobs([f"{c}:{p}" for c, _, p in specs])


def test_lost_records_of_many_objects_are_found_either_way(layouts: tuple[Git, str, list[str]],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo, old, oids = layouts
    kept = {path: b"kept\n" for path in (notes.fanout_paths(oid)[1] for oid in oids[:90])}
    new = _notes_commit(Path(repo.git_dir), kept, parent=old)
    monkeypatch.setattr(notes, "MANY", 10_000)
    looked_up = notes.lost_records(repo, old, new)
    monkeypatch.setattr(notes, "MANY", 1)
    listed = notes.lost_records(repo, old, new)
    assert listed == looked_up
    assert {loss.object_id for loss in listed} == set(notes.read(repo, old, oids))

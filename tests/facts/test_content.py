"""The content seam on a real repository: `Git.read_blobs` streams `git cat-file --batch` (keeping
a blob's first bytes only when asked, telling missing objects, leaving no process behind), the
raw diff gives each modified path's first-parent blob, and ContentCache reads a blob once
and enforces both caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import git as git_module
from engine.facts.content import ContentCache, ContentLimit
from engine.git import Git, GitError
from tests.helpers.repos import Clone, Server


def repo_with(tmp_path: Path, files: dict[str, bytes]) -> tuple[Git, dict[str, str], Clone]:
    server = Server(tmp_path, "version: 1\nrules: [{id: keep, deny: [deletion]}]\n")
    clone = Clone(tmp_path, server)
    for name, data in files.items():
        clone.write(name, data)
    clone.commit("files")
    repo = Git(str(clone.path / ".git"))
    oids = {name: clone.git("rev-parse", f"HEAD:{name}").out.strip() for name in files}
    return repo, oids, clone


def test_read_blobs_streams_whole_blobs_heads_and_missing_objects(tmp_path: Path) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: more than one pipe read
    repo, oids, _ = repo_with(tmp_path, {"a.txt": b"alpha\n", "big.bin": big, "empty": b""})
    missing = "0123456789" * 4
    found = list(repo.read_blobs([(oids["a.txt"], 100), (oids["big.bin"], 10), (missing, 5), (oids["empty"], 1),
                                  (oids["big.bin"], len(big))]))
    assert found == [(oids["a.txt"], 6, b"alpha\n"), (oids["big.bin"], len(big), big[:10]), (missing, -1, b""),
                     (oids["empty"], 0, b""), (oids["big.bin"], len(big), big)]
    assert not git_module._children


def test_abandoning_the_stream_leaves_no_git_process(tmp_path: Path) -> None:
    repo, oids, _ = repo_with(tmp_path, {"a": b"1\n", "b": b"2\n"})
    stream = repo.read_blobs([(oids["a"], 10), (oids["b"], 10)])
    assert next(stream)[2] == b"1\n"
    stream.close()
    assert not git_module._children


def test_only_full_object_ids_are_asked_for(tmp_path: Path) -> None:
    repo, _, _ = repo_with(tmp_path, {"a": b"1\n"})
    with pytest.raises(GitError, match="full object ids"):
        list(repo.read_blobs([("HEAD:a", 10)]))


def test_the_raw_diff_names_the_first_parent_blob_of_a_modified_path(tmp_path: Path) -> None:
    repo, oids, clone = repo_with(tmp_path, {"p.txt": b"one\n"})
    clone.write("p.txt", b"one\ntwo\n")
    head = clone.commit("more")
    [commit] = repo.commits([head])
    [changed] = commit.paths
    assert changed.status == "M" and changed.old_oid == oids["p.txt"]
    assert changed.oid == clone.git("rev-parse", "HEAD:p.txt").out.strip()


def test_the_cache_reads_each_blob_once_and_enforces_both_caps(tmp_path: Path) -> None:
    repo, oids, _ = repo_with(tmp_path, {"a": b"a" * 10, "b": b"b" * 100})
    asked: list[str] = []

    def reader(wanted):  # type: ignore[no-untyped-def]
        asked.extend(oid for oid, _ in wanted)
        return repo.read_blobs(wanted)

    def sizes(wanted):  # type: ignore[no-untyped-def]
        return {o: s for o, s in zip(wanted, repo.blob_sizes(wanted), strict=True) if s is not None}

    cache = ContentCache(sizes, reader)
    first = cache.read([oids["a"], oids["b"], oids["a"]], max_blob=50, max_total=1000)
    assert first.data == {oids["a"]: b"a" * 10} and first.over == {oids["b"]: 100} and not first.heads
    again = cache.read([oids["a"], oids["b"]], max_blob=50, max_total=1000, head=4)
    assert again.heads == {oids["b"]: b"bbbb"}
    assert asked == [oids["a"], oids["b"]]  # a once, b's head once
    with pytest.raises(ContentLimit, match="110 bytes, over the per-push cap of 100 bytes"):
        cache.read([oids["a"], oids["b"]], max_blob=1000, max_total=100)

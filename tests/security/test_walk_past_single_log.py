"""A push past one `git log` (SMALL_PUSH commits): the rest of the walk is listed by rev-list as it
streams, handed in runs of consecutive commits to diff-tree processes running meanwhile. A denied
path in the first run or the last denies, and a diff-tree that dies part-way denies too: a shorter
list of commits would be a wrong allow.

Each test pushes through a real receive-pack into a bare repository with the hook, so the
histories are longer than SMALL_PUSH itself (~20,000 commits, a few seconds each).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.facts.gitfacts import SMALL_PUSH
from engine.git import PARALLEL_MIN
from tests.helpers.repos import Server, git

POLICY = 'version: 1\nname: big\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n'
# The first log lists SMALL_PUSH + 1 commits; the rest, several runs for every diff-tree process.
NEW = SMALL_PUSH + 1 + 4 * PARALLEL_MIN + 357
FIRST_OF_REST = SMALL_PUSH + 1  # walk positions, newest first: the first run handed out
LAST = NEW - 1  # the walk's oldest commit: the last run handed out


def history(path: Path, *, denied_at: int | None = None, rejoin_at: int | None = None) -> list[str]:
    """A bare repository whose refs/heads/base is one commit and refs/heads/main NEW commits on it,
    one newer than the other, so the walk of main lists them newest first: the commit at walk
    position `denied_at` adds models/leak.gguf; the one at `rejoin_at` is a merge whose first
    parent is base. Returns the ids of base and of main's commits in walk order."""
    stream = bytearray(b"commit refs/heads/base\nmark :1\ncommitter T <t@example.com> 1700000000 +0000\n"
                       b"data 1\nb\nM 100644 inline base.txt\ndata 2\nb\n\n")
    for n in range(2, NEW + 2):
        position = NEW + 1 - n
        stream += f"commit refs/heads/main\nmark :{n}\ncommitter T <t@example.com> {1_700_000_000 + n} +0000\n".encode()
        stream += b"data 1\nc\n"
        stream += f"from :{n - 1}\n".encode() if position != rejoin_at else f"from :1\nmerge :{n - 1}\n".encode()
        name = "models/leak.gguf" if position == denied_at else f"src/f{n % 97}.py"
        stream += f"M 100644 inline {name}\ndata 2\n{n % 10}\n\n".encode()
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=path.parent)
    git("fast-import", "--quiet", cwd=path, stdin=bytes(stream))
    base = git("rev-parse", "base", cwd=path).out.strip()
    return [base, *git("rev-list", "main", "^base", cwd=path).out.split()]


@pytest.mark.slow
@pytest.mark.parametrize("position", [FIRST_OF_REST, LAST], ids=["first-run", "last-run"])
def test_a_denied_path_in_the_first_or_last_run_of_the_streamed_rest_denies_the_push(tmp_path: Path,
                                                                                      position: int) -> None:
    base, *walk = history(tmp_path / "src.git", denied_at=position)
    assert len(walk) == NEW
    server = Server(tmp_path, POLICY)
    assert git("push", "-q", str(server.path), "base:main", cwd=tmp_path / "src.git").code == 0
    result = git("push", "--porcelain", str(server.path), "main", cwd=tmp_path / "src.git", check=False)
    assert result.code != 0
    assert f"commit {walk[position][:10]} on refs/heads/main adds models/leak.gguf" in result.remote
    assert f"judged: refs/heads/main: {NEW} commit(s) not on any ref" in result.remote
    assert server.rev("main") == base


@pytest.mark.slow
def test_a_diff_tree_that_dies_part_way_through_the_rest_rejects_the_push(tmp_path: Path) -> None:
    """The server's commit `base` lost its tree (a loose object deleted): a pushed merge whose first
    parent is base cannot be diffed, so the diff-tree process handed the rest's first run dies
    there, with runs still to come. The walk raises and the push is rejected, never judged on the
    commits diffed before."""
    base, *walk = history(tmp_path / "src.git", rejoin_at=FIRST_OF_REST + PARALLEL_MIN // 2)
    server = Server(tmp_path, POLICY)
    assert git("push", "-q", str(server.path), "base:main", cwd=tmp_path / "src.git").code == 0
    tree = git("rev-parse", "main^{tree}", cwd=server.path).out.strip()
    os.remove(server.path / "objects" / tree[:2] / tree[2:])  # a push of three objects is stored loose
    result = git("push", "--porcelain", "--no-thin", str(server.path), "main", cwd=tmp_path / "src.git", check=False)
    assert result.code != 0
    assert "git diff-tree failed" in result.remote and tree in result.remote
    assert server.rev("main") == base

"""pygit2 against the git CLI for the reads changegate does: a harness, not a test.

Builds a repository with `git fast-import` (bench/push_bench.py's generator: C commits
over F files, all F in the head tree) and a notes ref annotating every commit's tree
(one envelope-sized line each, `ab/<rest>` fan-out as git writes it for that many
notes), then reports medians over several runs of:
  (a) reading N blobs: one `git cat-file --batch` (engine.git `Git.blobs`) vs pygit2,
      addressed as REV:PATH (what changegate asks for) and by object id (`repo[oid].data`);
  (b) reading the notes of M objects, the union over every fan-out location
      (engine.notes `read`: COMMIT:PATH lookups for a few objects, a listing of the notes
      tree from engine.notes.MANY on) vs the same lookups in a pygit2 notes tree;
  (c) the changed paths of 1 commit (`git log`, a small push) and of all C commits
      (rev-list + parallel diff-tree, a large push) vs pygit2 tree diffs;
  (d) importing pygit2 vs spawning one git process.
Each pair runs twice: "fresh", a new Python process per operation (what one `policy`
command, one hook run or one Action step pays: interpreter, imports, opening the
repository), and "warm", inside a running process (pygit2 imported, repository open;
the CLI still starts git each time). Both sides must return the same data, or the
benchmark stops. These figures are why changegate does not use pygit2 (README.md,
Development); pygit2 comes with the `bench` extra.

    python bench/pygit2_bench.py [--commits 10000] [--files 20000] [--runs 7] [--json FILE]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from engine.change import ChangedPath, Commit  # noqa: E402
from engine.git import Git  # noqa: E402

NOTES_REF = "refs/notes/changegate/approvals"
SMALL_PUSH = 200  # engine.facts.gitfacts.SMALL_PUSH: one `git log` up to this many commits
SLOW = 5.0  # seconds


# --- the operations, each as the git CLI and as pygit2 ---------------------------------
# Kept free of heavy imports: a fresh process imports this module and runs one of them.


def blobs_git(git: Git, specs: Sequence[str]) -> list[tuple[str, bytes] | None]:
    return git.blobs(specs)


def blobs_pygit2(repo: Any, specs: Sequence[str]) -> list[tuple[str, bytes] | None]:
    """Git.blobs through pygit2: REV:PATH looks the path up in REV's tree (each REV resolved
    once); anything else is taken as an object id."""
    import pygit2

    trees: dict[str, Any] = {}
    found: list[tuple[str, bytes] | None] = []
    for spec in specs:
        rev, colon, path = spec.partition(":")
        try:
            if colon:
                if rev not in trees:
                    trees[rev] = repo.revparse_single(rev).peel(pygit2.Tree)
                obj = trees[rev][path]
            else:
                obj = repo[spec]
        except (KeyError, ValueError):
            found.append(None)
            continue
        found.append((str(obj.id), obj.data) if isinstance(obj, pygit2.Blob) else None)
    return found


def notes_git(git: Git, notes_commit: str, ids: Sequence[str]) -> dict[str, list[bytes]]:
    from engine import notes

    return notes.read(git, notes_commit, ids)


def notes_pygit2(repo: Any, notes_commit: str, ids: Sequence[str]) -> dict[str, list[bytes]]:
    """engine.notes.read through pygit2: the union of the lines at every fan-out location
    (libgit2's own lookup_note reads one location, as git does, so it cannot serve)."""
    import pygit2

    from engine.notes import fanout_paths

    tree = repo[notes_commit].peel(pygit2.Tree)
    found: dict[str, list[bytes]] = {}
    for oid in dict.fromkeys(ids):
        lines: dict[bytes, None] = {}
        for path in fanout_paths(oid):
            try:
                obj = tree[path]
            except KeyError:
                continue
            if isinstance(obj, pygit2.Blob):
                for line in obj.data.splitlines():
                    if line.strip():
                        lines[line.strip()] = None
        if lines:
            found[oid] = list(lines)
    return found


def paths_git(git: Git, head: str, exclude: str) -> list[Commit]:
    """What gitfacts runs: one `git log` for a small push (`exclude` given: head's ancestor a few
    commits down), rev-list + commits(), diff-tree in parallel, for the whole history."""
    if exclude:
        return git.log([head], exclude=[exclude], limit=SMALL_PUSH + 1)
    return git.commits([oid for oid, _ in git.rev_list([head])])


def paths_pygit2(repo: Any, head: str, exclude: str) -> list[Commit]:
    """The same commits, each diffed against its first parent (a root against the empty tree)."""
    import pygit2

    walker = repo.walk(head)
    if exclude:
        walker.hide(exclude)
    commits: list[Commit] = []
    for commit in walker:
        parents = commit.parent_ids
        tree = commit.tree
        if parents:
            diff = repo[parents[0]].tree.diff_to_tree(tree, flags=pygit2.enums.DiffOption.INCLUDE_TYPECHANGE)
        else:
            diff = tree.diff_to_tree(swap=True)
        paths = tuple(ChangedPath(d.new_file.raw_path, d.status_char()) for d in diff.deltas)
        commits.append(Commit(str(commit.id), str(tree.id), tuple(str(p) for p in parents), commit.author.name,
                              commit.author.email, paths, commit.committer.name, commit.committer.email))
    return commits


def _read_list(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def child() -> None:
    """One fresh-process operation: sys.argv is [-c, op, repo, args...]."""
    op, repo, *args = sys.argv[1:]
    kind, _, impl = op.partition("-")
    handle: Any
    if impl == "git":
        handle = Git(repo)
    else:
        import pygit2

        handle = pygit2.Repository(repo)
    if kind == "blobs":
        (blobs_git if impl == "git" else blobs_pygit2)(handle, _read_list(args[0]))
    elif kind == "notes":
        (notes_git if impl == "git" else notes_pygit2)(handle, args[0], _read_list(args[1]))
    elif kind == "paths":
        (paths_git if impl == "git" else paths_pygit2)(handle, args[0], args[1] if len(args) > 1 else "")
    else:
        raise SystemExit(f"unknown operation {op}")


# --- the harness ------------------------------------------------------------------------

CHILD = f"import sys; sys.path[:0] = [{str(BENCH)!r}, {str(ROOT)!r}]; import pygit2_bench; pygit2_bench.child()"


def fresh(op: str, repo: Path, *args: str, code: str = CHILD) -> float:
    """Wall time of a new interpreter running one operation, as a command pays it. Bytecode is
    cached as in an installed changegate (PYTHONDONTWRITEBYTECODE would recompile every run)."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, op, str(repo), *args], check=True, env=env)
    return time.perf_counter() - start


def medians(actions: Sequence[Callable[[], object]], runs: int) -> list[float]:
    """Median wall time of each action. Runs are interleaved (a, b, a, b ...) so that load from
    other processes on the machine falls on every side alike; one untimed run of each first
    warms the page cache, pyc files and libgit2's pack windows. Three runs for pairs whose
    slower side takes over SLOW seconds."""
    import statistics

    slowest = 0.0
    for action in actions:
        start = time.perf_counter()
        action()
        slowest = max(slowest, time.perf_counter() - start)
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(min(runs, 3) if slowest > SLOW else runs):
        for action, spent in zip(actions, times, strict=True):
            start = time.perf_counter()
            action()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def envelopes(count: int, seed: int = 11) -> list[bytes]:
    """One DSSE-envelope-sized JSON line per note (~1 KB, like a signed approval)."""
    import base64
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        payload = base64.b64encode(rng.randbytes(600)).decode()
        sig = base64.b64encode(rng.randbytes(64)).decode()
        lines.append(f'{{"payloadType":"application/vnd.in-toto+json","payload":"{payload}",'
                     f'"signatures":[{{"keyid":"SHA256:bench","sig":"{sig}"}}]}}'.encode())
    return lines


def add_notes(repo: Path, trees: Sequence[str]) -> None:
    """A notes commit on NOTES_REF with one line on each tree, at `ab/<rest>` (git's fan-out
    for thousands of notes)."""
    from push_bench import sh

    out = bytearray(b"commit " + NOTES_REF.encode() + b"\ncommitter Bench <bench@example.com> 1700000000 +0000\n"
                    b"data 5\nnotes\n")
    for tree, line in zip(trees, envelopes(len(trees)), strict=True):
        body = line + b"\n"
        out += f"M 100644 inline {tree[:2]}/{tree[2:]}\ndata {len(body)}\n".encode() + body + b"\n"
    out += b"\n"
    sh("git", "fast-import", "--quiet", cwd=repo, stdin=bytes(out))
    sh("git", "gc", "-q", cwd=repo)


def import_seconds() -> float:
    """pygit2's own import time by `python -X importtime` (cumulative, median of 5)."""
    import statistics
    import subprocess

    values = []
    for _ in range(5):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pygit2"], capture_output=True,
                             check=True).stderr.decode()
        last = [line for line in err.splitlines() if line.rstrip().endswith("| pygit2")][-1]
        values.append(int(last.split("|")[1]) / 1e6)  # microseconds
    return statistics.median(values)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms" if seconds < 10 else f"{seconds:9.2f} s "


def main() -> int:
    import argparse
    import json
    import shutil
    import tempfile

    try:
        import pygit2
    except ImportError:
        print("pygit2 is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from push_bench import generate, sh

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the medians here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="changegate-pygit2-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        repo = root / "repo.git"
        print(f"generating {args.commits} commits over {args.files} files, notes on every tree ...", flush=True)
        start = time.perf_counter()
        generate(repo, args.commits, args.files)
        head = sh("git", "rev-parse", "main", cwd=repo).decode().strip()
        trees = sh("git", "log", "--format=%T", "main", cwd=repo).decode().split()
        add_notes(repo, trees)
        notes_commit = sh("git", "rev-parse", NOTES_REF, cwd=repo).decode().strip()
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
        git, lib = Git(str(repo)), pygit2.Repository(str(repo))
        paths = [p.decode() for p in git.tree_paths(head)]
        ids = [entry[0] for entry in git.blobs([f"{head}:{p}" for p in paths]) if entry]

        def pair(label: str, kind: str, run_git: Callable[[], Any], run_lib: Callable[[], Any],
                 fresh_args: Sequence[str], same: Callable[[Any], Any] = lambda x: x) -> None:
            if same(run_git()) != same(run_lib()):
                raise SystemExit(f"{label}: pygit2 and the git CLI disagree; the comparison would be meaningless")
            for mode in ("fresh", "warm"):
                if mode == "fresh":
                    g, p = medians([lambda: fresh(f"{kind}-git", repo, *fresh_args),
                                    lambda: fresh(f"{kind}-pygit2", repo, *fresh_args)], args.runs)
                else:
                    g, p = medians([run_git, run_lib], args.runs)
                rows.append({"operation": label, "mode": mode, "git": g, "pygit2": p})
                print(f"  {label:37}{mode:7}{fmt(g)}{fmt(p)}{p / g:8.2f}x", flush=True)

        print(f"\nmedians of {args.runs} runs; ratio = pygit2 / git CLI (above 1: the CLI is faster)")
        print(f"  {'operation':37}{'mode':7}{'git CLI':>12}{'pygit2':>12}{'ratio':>9}")
        for n in (10, 1000, 20_000):
            if n > len(paths):
                continue
            for how, specs in (("REV:PATH", [f"{head}:{p}" for p in paths[:n]]), ("id", ids[:n])):
                listed = root / f"blobs-{how}-{n}"
                listed.write_text("\n".join(specs), encoding="utf-8")
                pair(f"(a) {n} blobs by {how}", "blobs", lambda s=specs: blobs_git(git, s),
                     lambda s=specs: blobs_pygit2(lib, s), [str(listed)])
        for m in (1, 100, 1000, 10_000):
            if m > len(trees):
                continue
            wanted = trees[:m]
            listed = root / f"notes-{m}"
            listed.write_text("\n".join(wanted), encoding="utf-8")
            pair(f"(b) notes of {m} trees", "notes", lambda w=wanted: notes_git(git, notes_commit, w),
                 lambda w=wanted: notes_pygit2(lib, notes_commit, w), [notes_commit, str(listed)])
        for count, below in ((1, git.resolve(f"{head}~1") or ""), (args.commits, "")):
            pair(f"(c) changed paths, {count} commit(s)", "paths", lambda b=below: paths_git(git, head, b),
                 lambda b=below: paths_pygit2(lib, head, b), [head, below],
                 same=lambda commits: sorted((c.oid, c.parents, sorted(c.paths)) for c in commits))

        interpreter, imported, opened = medians(
            [lambda code=code: fresh("", repo, code=code) for code in
             ("pass", "import pygit2", "import sys, pygit2; pygit2.Repository(sys.argv[2])")], 3 * args.runs)
        one_git, one_blob, one_open = medians([lambda: git.run("rev-parse", "--verify", "HEAD"),
                                               lambda: git.blobs([f"{head}:{paths[0]}"]),
                                               lambda: pygit2.Repository(str(repo))], 3 * args.runs)
        self_import = import_seconds()
        print(f"\n(d) fixed costs (medians of {3 * args.runs} runs)")
        print(f"  {'a new interpreter (python -c pass)':48}{fmt(interpreter)}")
        print(f"  {'  + import pygit2':48}{fmt(imported - interpreter)}  (python -X importtime: {fmt(self_import)})")
        print(f"  {'  + import pygit2 + open the repository':48}{fmt(opened - interpreter)}")
        print(f"  {'in a running process: spawn git rev-parse':48}{fmt(one_git)}")
        print(f"  {'in a running process: cat-file --batch, 1 blob':48}{fmt(one_blob)}")
        print(f"  {'in a running process: pygit2.Repository()':48}{fmt(one_open)}")
        fixed = {"interpreter": interpreter, "import_pygit2": imported - interpreter,
                 "importtime_pygit2": self_import, "import_and_open": opened - interpreter,
                 "spawn_git": one_git, "cat_file_one_blob": one_blob, "open_repository": one_open}
        if args.json:
            args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "pairs": rows,
                                             "fixed": fixed, "git": sh("git", "--version").decode().strip(),
                                             "pygit2": pygit2.__version__, "libgit2": pygit2.LIBGIT2_VERSION},
                                            indent=2))
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

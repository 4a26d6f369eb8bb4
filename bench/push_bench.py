"""Push benchmarks for the changegate pre-receive hook: a harness, not a test.

Builds a repository of N commits over ~F files with `git fast-import`, then reports
medians over several runs of:
  * a push of 1 commit and of all N commits into a bare repository with
    (a) no hook, (b) a trivial hook (sh), (c) a trivial hook in Python (the floor of any hook written
    in Python: the interpreter's start), (d) the changegate hook with a 20-rule policy;
  * listing the changed paths of all N commits: engine.git vs the raw
    `git rev-list | git diff-tree --stdin` pipeline.
Targets (issue 2): 1-commit push with the hook <= 60 ms; N-commit push <= 1.25x the
bare push; listing paths <= 1.2x diff-tree.

    python bench/push_bench.py [--commits 10000] [--files 2000] [--runs 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.git import Git  # noqa: E402

POLICY = ROOT / "bench" / "policy-20.yml"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_NOSYSTEM": "1"}
TRIVIAL_HOOK = "#!/bin/sh\ncat >/dev/null\n"
PYTHON_HOOK = f"#!{sys.executable} -IS\nimport sys\nsys.stdin.buffer.read()\n"  # as changegate's hook starts


def sh(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    return subprocess.run(list(args), cwd=cwd, env=ENV, input=stdin, check=True, capture_output=True).stdout


def generate(path: Path, commits: int, files: int, seed: int = 7, denied_every: int = 0) -> None:
    """A history of `commits` commits, each changing 1-3 of `files` paths (some under prompts/, models/);
    with `denied_every` N, every Nth commit also adds a weights file bench/policy-20.yml denies."""
    rng = random.Random(seed)
    dirs = ["src/app", "src/eval", "prompts/support", "models/support-7b", "serving/k8s", "docs", "tests/unit"]
    names = [f"{dirs[i % len(dirs)]}/mod{i % 37}/file{i}.{'yaml' if i % 5 == 0 else 'py'}" for i in range(files)]
    out = bytearray()
    stamp = 1_700_000_000
    for n in range(1, commits + 1):
        message = f"change {n}".encode()
        out += b"commit refs/heads/main\n"
        out += f"committer Bench <bench@example.com> {stamp + n} +0000\n".encode()
        out += f"data {len(message)}\n".encode() + message + b"\n"
        touched = rng.sample(names, rng.randint(1, 3)) if n > 1 else names
        for name in touched:
            body = f"# {name} revision {n} {rng.random()}\n".encode()
            out += f"M 100644 inline {name}\ndata {len(body)}\n".encode() + body + b"\n"
        if denied_every and n % denied_every == 0:
            out += f"M 100644 inline models/support-7b/w{n}.safetensors\ndata 2\nw\n\n".encode()
        out += b"\n"
    sh("git", "init", "-q", "--bare", "-b", "main", str(path))
    sh("git", "fast-import", "--quiet", cwd=path, stdin=bytes(out))
    sh("git", "gc", "-q", cwd=path)


def bare_server(root: Path, name: str, hook: str) -> Path:
    server = root / name
    if server.exists():
        shutil.rmtree(server)
    sh("git", "init", "-q", "--bare", "-b", "main", str(server))
    if hook in ("trivial", "python"):
        target = server / "hooks" / "pre-receive"
        target.write_text(TRIVIAL_HOOK if hook == "trivial" else PYTHON_HOOK)
        target.chmod(0o755)
    elif hook == "changegate":
        sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(server), "--policy", str(POLICY),
           cwd=ROOT)
    return server


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_full_push(root: Path, source: Path, hook: str, runs: int) -> list[float]:
    times = []
    for run in range(runs):
        server = bare_server(root, f"full-{hook}", hook)
        times.append(timed(lambda s=server: sh("git", "push", "-q", str(s), "main", cwd=source)))
        del run
    return times


def bench_one_commit(root: Path, source: Path, hook: str, runs: int) -> list[float]:
    server = bare_server(root, f"one-{hook}", hook)
    sh("git", "push", "-q", str(server), "main", cwd=source)
    work = root / f"work-{hook}"
    if work.exists():
        shutil.rmtree(work)
    sh("git", "clone", "-q", str(server), str(work))
    times = []
    for run in range(runs + 1):
        (work / "src" / "app").mkdir(parents=True, exist_ok=True)
        (work / "src" / "app" / "bench.py").write_text(f"run = {run}\n")
        sh("git", "add", "-A", cwd=work)
        sh("git", "commit", "-q", "-m", f"bench {run}", cwd=work)
        elapsed = timed(lambda: sh("git", "push", "-q", "origin", "HEAD:main", cwd=work))
        if run:  # the first push warms the page cache and the compiled-policy cache
            times.append(elapsed)
    return times


def bench_paths(source: Path, runs: int) -> tuple[list[float], list[float]]:
    head = sh("git", "rev-parse", "main", cwd=source).decode().strip()
    git = Git(str(source))

    def raw() -> None:
        revs = subprocess.Popen(["git", "rev-list", head], cwd=source, stdout=subprocess.PIPE, env=ENV)
        subprocess.run(["git", "diff-tree", "--stdin", "-r", "-z", "--root", "--diff-merges=first-parent"],
                       cwd=source, stdin=revs.stdout, capture_output=True, check=True, env=ENV)
        revs.wait()

    def engine() -> None:  # what a large push runs: rev-list, then diff-tree in parallel
        git.commits([oid for oid, _ in git.rev_list([head])])

    ours = [timed(engine) for _ in range(runs)]
    base = [timed(raw) for _ in range(runs)]
    return ours, base


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms" if seconds < 1 else f"{seconds:8.3f} s "


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--full-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="changegate-bench-"))
    try:
        source = root / "source.git"
        print(f"generating {args.commits} commits over {args.files} files ...", flush=True)
        print(f"  done in {timed(lambda: generate(source, args.commits, args.files)):.1f} s", flush=True)
        results: dict[str, dict[str, list[float]]] = {"one": {}, "full": {}}
        for hook in ("none", "trivial", "python", "changegate"):
            results["one"][hook] = bench_one_commit(root, source, hook, args.runs)
            results["full"][hook] = bench_full_push(root, source, hook, args.full_runs)
        ours, base = bench_paths(source, args.runs)
        med = {k: {h: statistics.median(v) for h, v in d.items()} for k, d in results.items()}

        print(f"\nmedians ({args.runs} runs for 1 commit, {args.full_runs} for {args.commits} commits)")
        print(f"{'push':22}{'no hook':>12}{'trivial':>12}{'python':>12}{'changegate':>12}{'cg/none':>10}"
              f"{'cg/trivial':>11}{'py/none':>9}")
        for key, label in (("one", "1 commit"), ("full", f"{args.commits} commits")):
            m = med[key]
            print(f"{label:22}{fmt(m['none']):>12}{fmt(m['trivial']):>12}{fmt(m['python']):>12}"
                  f"{fmt(m['changegate']):>12}{m['changegate'] / m['none']:>9.2f}x"
                  f"{m['changegate'] / m['trivial']:>10.2f}x{m['python'] / m['none']:>8.2f}x")
        paths_ratio = statistics.median(ours) / statistics.median(base)
        print(f"\nchanged paths of {args.commits} commits: engine.git {fmt(statistics.median(ours))}, "
              f"rev-list|diff-tree {fmt(statistics.median(base))}, ratio {paths_ratio:.2f}x")
        checks = [
            ("1-commit push with hook <= 60 ms", med["one"]["changegate"] <= 0.060),
            (f"{args.commits}-commit push <= 1.25x bare", med["full"]["changegate"] <= 1.25 * med["full"]["none"]),
            ("changed paths <= 1.2x diff-tree", paths_ratio <= 1.2),
        ]
        print()
        for name, ok in checks:
            print(f"  {'met ' if ok else 'MISS'} {name}")
        if args.json:
            args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": results,
                                             "paths": {"engine": ours, "diff_tree": base}}, indent=2))
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Content-rule benchmark for the changegate pre-receive hook: a harness, not a test.

The push_bench history (N commits over ~F files, each commit changing 1-3 of them) is pushed
whole into a bare repository with (a) no hook, (b) the changegate hook with a policy of
`deny_secrets` and `deny_unsafe_models` over every path, and (c) that hook with the rules
off (a cheap path rule), and the medians are compared. Every added line of the push is scanned
for secrets and every new blob judged as a possible model: about 2 x N blobs read through the
content seam. Target (issue 11): (b) within 1.5x (a).

    python bench/content_bench.py [--commits 10000] [--files 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from push_bench import ROOT, fmt, generate, sh, timed

POLICIES = {
    "content": "version: 1\nname: content\nrules:\n"
               "  - id: no-secrets\n    deny_secrets: {}\n"
               "  - id: safe-models\n    deny_unsafe_models: {}\n",
    "paths": "version: 1\nname: paths\nrules:\n  - id: no-weights\n    deny_paths: ['*.safetensors']\n",
}


def server(root: Path, name: str, policy: str | None) -> Path:
    """A bare repository; with a policy, the hook installed with a time budget no push here
    reaches (the point is to time it: the default 4 s budget rejects a long enough push, which is
    what it is for) and its compiled-policy cache warm, as on a server between policy changes."""
    path = root / name
    if path.exists():
        shutil.rmtree(path)
    sh("git", "init", "-q", "--bare", "-b", "main", str(path))
    if policy is not None:
        policy_file = root / f"{policy}.yml"
        policy_file.write_text(POLICIES[policy])
        sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(path), "--policy", str(policy_file),
           "--time-budget", "3600", cwd=ROOT)
        warm = root / f"warm-{policy}"
        if warm != path and (warm / "changegate" / "cache").is_dir():
            shutil.copytree(warm / "changegate" / "cache", path / "changegate" / "cache", dirs_exist_ok=True)
    return path


def warm_up(root: Path, source: Path, policy: str) -> None:
    """Compile the policy into a cache once (a one-commit push), for server() to copy."""
    first = sh("git", "rev-list", "--max-parents=0", "main", cwd=source).decode().split()[0]
    sh("git", "push", "-q", str(server(root, f"warm-{policy}", policy)), f"{first}:refs/heads/main", cwd=source)


def full_push(root: Path, source: Path, policy: str | None, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        target = server(root, f"full-{policy}", policy)
        times.append(timed(lambda t=target: sh("git", "push", "-q", str(t), "main", cwd=source)))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="changegate-content-bench-"))
    try:
        source = root / "source.git"
        print(f"generating {args.commits} commits over {args.files} files ...", flush=True)
        generate(source, args.commits, args.files)
        for policy in POLICIES:
            warm_up(root, source, policy)
        runs: dict[str | None, list[float]] = {None: [], "paths": [], "content": []}
        for _ in range(args.runs):  # interleaved, so a burst of load elsewhere hits every variant alike
            for policy in runs:
                runs[policy] += full_push(root, source, policy, 1)
        med = {policy: statistics.median(times) for policy, times in runs.items()}
        bare, paths, content = med[None], med["paths"], med["content"]
        print(f"\nmedians of {args.runs} pushes of {args.commits} commits")
        print(f"  no hook                                 {fmt(bare)}")
        print(f"  changegate, one path rule               {fmt(paths)}   {paths / bare:.2f}x bare")
        print(f"  changegate, deny_secrets + deny_unsafe_models {fmt(content)}   {content / bare:.2f}x bare")
        ok = content <= 1.5 * bare
        print(f"\n  {'met ' if ok else 'MISS'} content rules push <= 1.5x bare")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

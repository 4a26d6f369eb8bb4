"""Scale benchmarks for the hook's engine: a harness, not a test (issue "The hook within every
server's budget").

Every repository is generated with `git fast-import`, so anyone can run this without a download:
  * many refs: a 1-commit push into a repository holding --refs refs (git/git has about 4,300),
    bare vs with the changegate hook (20-rule policy), medians and ratio;
  * huge history: a push of --huge-commits commits (git/git has about 82,000), bare vs hook;
  * many rules x many paths: `policy check` of one commit adding --paths paths, with 1, 100 and
    --rules deny_paths rules (extension, directory and `**/dir/*.bin` patterns), against the time
    `git diff-tree` takes to list those paths (a case slower than 30 s is timed once);
  * replay: `policy replay` of the 20-rule policy over a linear history of --huge-commits commits
    (every first-parent step judged; one in 1,000 adds denied weights), against the time
    `git log --raw` takes to list the same history, with the CPU seconds replay used.

    python bench/scale_bench.py [--refs 4000] [--huge-commits 80000] [--paths 100000] [--rules 1000]
                                [--runs 5] [--only refs,huge,rules,replay] [--source REPO --branch B]

  --source pushes a real repository's branch in the huge-history scenario instead (git/git:
  `git clone --bare https://github.com/git/git` then `--source git.git --branch master`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from push_bench import ENV, POLICY, ROOT, bare_server, fmt, generate, sh, timed

SLOW = 30.0  # seconds: a case slower than this is timed once


def row(name: str, bare: list[float], hook: list[float]) -> str:
    b, h = statistics.median(bare), statistics.median(hook)
    return f"{name:<50}{fmt(b):>12}{fmt(h):>12}{h / b:>8.2f}x"


def many_refs(root: Path, refs: int, runs: int) -> str:
    """A 1-commit push into a repository with `refs` refs (branches and tags over its history), as
    `git gc` leaves a server: refs packed, a commit-graph written (both pushes benefit)."""
    source = root / "refs-source.git"
    generate(source, 2_000, 1_000)
    oids = sh("git", "rev-list", "main", cwd=source).decode().split()
    lines = "".join(f"create refs/{'tags/v' if i % 3 else 'heads/topic-'}{i} {oids[i % len(oids)]}\n"
                    for i in range(refs))
    results = {}
    for hook in ("none", "changegate"):
        server = bare_server(root, f"refs-{hook}", hook)
        sh("git", "push", "-q", str(server), "main", cwd=source)
        sh("git", "update-ref", "--stdin", cwd=server, stdin=lines.encode())
        sh("git", "pack-refs", "--all", cwd=server)  # refs packed and a commit-graph: as `git gc` leaves a server
        sh("git", "commit-graph", "write", "--reachable", cwd=server)
        work = root / f"refs-work-{hook}"
        sh("git", "clone", "-q", "--single-branch", str(server), str(work))
        times = []
        for run in range(runs + 1):
            (work / "bench.py").write_text(f"run = {run}\n")
            sh("git", "add", "-A", cwd=work)
            sh("git", "commit", "-q", "-m", f"bench {run}", cwd=work)
            elapsed = timed(lambda w=work: sh("git", "push", "-q", "origin", "HEAD:main", cwd=w))
            if run:  # the first push warms the caches
                times.append(elapsed)
        results[hook] = times
    return row(f"1 commit among {refs:,} refs", results["none"], results["changegate"])


def huge_history(root: Path, commits: int, runs: int, source: Path | None = None, branch: str = "main") -> list[str]:
    """A push of a whole history into an empty repository, the compiled policy warm: generated, or
    `source`'s `branch` (a real repository such as a clone of git/git). Besides the totals, the
    hook's own time, CPU and peak RSS, measured around the installed hook by a wrapper."""
    if source is None:
        source = root / "huge-source.git"
        generate(source, commits, 5_000)
        label = f"all {commits:,} commits of a generated history"
    else:
        count = int(sh("git", "rev-list", "--count", branch, cwd=source))
        label = f"all {count:,} commits of {source.name} {branch}"
    first = sh("git", "rev-list", "--max-parents=0", branch, cwd=source).decode().split()[0]
    warm = unbounded(bare_server(root, "huge-warm", "changegate"))  # compiles the policy into its cache once
    sh("git", "push", "-q", str(warm), f"{first}:refs/heads/main", cwd=source)
    results: dict[str, list[float]] = {"none": [], "changegate": []}
    own: list[dict[str, float]] = []
    for _ in range(runs):
        for hook in results:
            server = bare_server(root, f"huge-{hook}", hook)
            if hook == "changegate":
                unbounded(server)
                shutil.copytree(warm / "changegate" / "cache", server / "changegate" / "cache", dirs_exist_ok=True)
                measured = wrap_hook(server)
            push = ("git", "push", "-q", str(server), f"{branch}:refs/heads/main")
            results[hook].append(timed(lambda p=push: subprocess.run(p, cwd=source, env=ENV, capture_output=True)))
            if hook == "changegate":
                own.append(json.loads(measured.read_text()))
    wall = statistics.median(o["wall"] for o in own)
    cpu = statistics.median(o["cpu"] for o in own)
    rss = max(o["rss_mb"] for o in own)
    return [row(label, results["none"], results["changegate"]),
            f"  the hook itself: {wall:.2f} s (target under 5 s), {cpu:.2f} s CPU with its git processes, "
            f"peak RSS {rss:.0f} MB (target under 300 MB); verdict: {'allowed' if own[-1]['code'] == 0 else 'denied'}"]


def wrap_hook(server: Path) -> Path:
    """Put a wrapper in front of the installed hook that times it and reads the peak RSS of it and
    its git children (wait4's rusage); returns the file it writes. The wrapper's own start (~15 ms)
    counts in the push's total, not in the hook's time."""
    hook = server / "hooks" / "pre-receive"
    real = hook.with_name("pre-receive.measured")
    hook.rename(real)
    out = server / "hook-measure.json"
    hook.write_text(f"""#!{sys.executable}
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn({str(real)!r}, [{str(real)!r}], dict(os.environ))
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
with open({str(out)!r}, "w") as f:
    json.dump({{"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
               "code": code}}, f)
sys.exit(code)
""")
    hook.chmod(0o755)
    return out


def unbounded(server: Path) -> Path:
    """The hook reinstalled with a time budget no push here reaches: the point is to time it (with the
    default 4 s budget a long enough history is rejected, which is what the budget is for)."""
    sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(server), "--policy", str(POLICY),
       "--time-budget", "3600", cwd=ROOT)
    return server


def rules_policy(path: Path, rules: int) -> None:
    """`rules` deny_paths rules mixing the three pattern shapes an organisation's pack has."""
    shapes = ("'*.ext{i}'", "'vendor{i}/'", "'**/dir{i}/*.bin'")
    body = "".join(f"  - id: r{i}\n    deny_paths: [{shapes[i % 3].format(i=i)}]\n" for i in range(rules))
    path.write_text("version: 1\nname: many-rules\nrules:\n" + body)


def many_rules(root: Path, paths: int, rules: int, runs: int) -> list[str]:
    """`policy check` of one commit adding `paths` paths, none denied, by 1, 100 and `rules` rules."""
    repo = root / "paths.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    stream = bytearray(b"commit refs/heads/tmp\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 4\n"
                       b"add\n")
    for i in range(paths):
        stream += f"M 100644 inline data/part{i % 100}/sub{i % 7}/row{i}.jsonl\ndata 2\n{i % 10}\n\n".encode()
    sh("git", "fast-import", "--quiet", cwd=repo, stdin=bytes(stream) + b"\n")
    new = sh("git", "rev-parse", "refs/heads/tmp", cwd=repo).decode().strip()
    sh("git", "update-ref", "-d", "refs/heads/tmp", cwd=repo)  # the commit is new to every ref
    listing = [timed(lambda: sh("git", "diff-tree", "-r", "-z", "--root", "--no-commit-id", new, cwd=repo))
               for _ in range(runs)]
    lines = []
    for count in sorted({1, min(100, rules), rules}):
        policy = root / f"rules-{count}.yml"
        rules_policy(policy, count)
        check: list[float] = []
        while len(check) < runs and sum(check) < SLOW:  # a case past SLOW seconds is not repeated
            check.append(timed(lambda p=policy: sh(sys.executable, "-m", "engine", "check", "--repo", str(repo),
                                                   "--policy", str(p), "--ref", "refs/heads/main", "--new", new,
                                                   "--actor", "bench", cwd=ROOT)))
        lines.append(row(f"{count:,} path rules x {paths:,} paths (policy check)", listing, check))
    lines.append(rules_push(root, repo, new, policy, rules, paths, runs))
    return lines


def rules_push(root: Path, repo: Path, new: str, policy: Path, rules: int, paths: int, runs: int) -> str:
    """The push of that commit into a server whose hook has the `rules`-rule policy (its compiled
    policy cached, as after any earlier push), against the same push into a bare server."""
    sh("git", "update-ref", "refs/heads/big", new, cwd=repo)
    warm = root / "rules-warm.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(warm))
    sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(warm), "--policy", str(policy), cwd=ROOT)
    empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    empty = sh("git", "commit-tree", empty_tree, "-m", "warm", cwd=repo).decode().strip()
    sh("git", "push", "-q", str(warm), f"{empty}:refs/heads/warm", cwd=repo)  # compiles the policy into the cache
    results: dict[str, list[float]] = {"none": [], "changegate": []}
    for _ in range(runs):
        for hook in results:
            server = root / f"rules-{hook}.git"
            shutil.rmtree(server, ignore_errors=True)
            sh("git", "init", "-q", "--bare", "-b", "main", str(server))
            if hook == "changegate":
                sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(server), "--policy", str(policy),
                   cwd=ROOT)
                shutil.copytree(warm / "changegate" / "cache", server / "changegate" / "cache", dirs_exist_ok=True)
            push = ("git", "push", "-q", str(server), "refs/heads/big:refs/heads/big")
            results[hook].append(timed(lambda p=push: sh(*p, cwd=repo)))
    sh("git", "update-ref", "-d", "refs/heads/big", cwd=repo)
    return row(f"push of those paths, {rules:,} path rules (hook)", results["none"], results["changegate"])


def replay_history(root: Path, commits: int, runs: int) -> str:
    """`policy replay` over every first-parent step of a generated history (warm: one untimed run)."""
    import resource

    source = root / "replay-source.git"
    generate(source, commits, 5_000, denied_every=1_000)
    listing = [timed(lambda: sh("git", "log", "--raw", "-z", "--no-renames", "--root", "main", cwd=source))
               for _ in range(runs)]
    argv = [sys.executable, "-m", "engine", "replay", "--repo", str(source), "--policy", str(POLICY),
            "--from", "history", "--format", "json"]
    replay: list[float] = []
    cpu: list[float] = []
    for run in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"policy replay failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        if run:  # the first run warms the page cache
            replay.append(elapsed)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    report = json.loads(proc.stdout)
    name = f"replay {report['updates']:,} updates, 20 rules ({report['denied_updates']} denied)"
    return f"{row(name, listing, replay)}  cpu {statistics.median(cpu):.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", type=int, default=4_000)
    parser.add_argument("--huge-commits", type=int, default=80_000)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="refs,huge,rules,replay", help="comma-separated scenarios to run")
    parser.add_argument("--source", type=Path, help="huge history: push this repository's --branch instead of a "
                                                   "generated history (e.g. a clone of git/git)")
    parser.add_argument("--branch", default="main", help="the branch of --source to push (default main)")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    print(f"{'scenario (medians of ' + str(args.runs) + ' runs)':<50}{'bare':>12}{'changegate':>12}{'ratio':>9}")
    print("(path rules: changegate is `policy check`, bare is `git diff-tree` listing the same paths;\n"
          " replay: changegate is `policy replay`, bare is `git log --raw` listing the same history)")
    with tempfile.TemporaryDirectory(prefix="changegate-scale-") as tmp:
        root = Path(tmp)
        if "refs" in chosen:
            print(many_refs(root, args.refs, args.runs), flush=True)
        if "rules" in chosen:
            for line in many_rules(root, args.paths, args.rules, args.runs):
                print(line, flush=True)
        if "huge" in chosen:
            for line in huge_history(root, args.huge_commits, max(1, min(args.runs, 3)), args.source, args.branch):
                print(line, flush=True)
        if "replay" in chosen:
            print(replay_history(root, args.huge_commits, max(1, min(args.runs, 3))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

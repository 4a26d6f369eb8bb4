"""What one rego rule costs a push: a harness, not a test.

Times a 1-commit push (median of --runs, after one warm-up push that also fills the
compiled-policy cache) into bare repositories with:
  * no hook;
  * the changegate hook with one `deny_paths` rule (the baseline hook cost);
  * the changegate hook with one embedded `rego` rule (regopy, in-process);
  * the changegate hook with one `rego: {opa: ...}` rule asking a local OPA STAND-IN
    (tests/helpers/fake_opa.py: OPA's REST API evaluated with regopy; no OPA binary can be
    installed here, so this measures the client side: importing opa-python-client, the
    HTTP round trip, not OPA's own evaluation).

    python bench/rego_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push_bench import ENV, sh  # noqa: E402

MODULE = """package changegate

import rego.v1

deny contains msg if {
\tsome p in input.paths
\tendswith(p.path, ".safetensors")
\tmsg := sprintf("%s: weights belong in the model registry", [p.path])
}

warn contains msg if {
\tsome p in input.paths
\tis_number(p.size)
\tp.size > 10485760
\tmsg := sprintf("%s is over 10 MiB", [p.path])
}
"""
POLICIES = {
    "deny_paths": "version: 1\nrules:\n  - id: weights\n    deny_paths: ['*.safetensors']\n",
    "rego": "version: 1\nrules:\n  - id: weights\n    rego: {modules: [changegate.rego]}\n",
    "rego-opa": "version: 1\nsources: {opa: {url: 'URL', timeout: 2s}}\n"
                "rules:\n  - id: weights\n    rego: {opa: {path: changegate}}\n",
}


def server(root: Path, name: str, policy: str | None) -> Path:
    path = root / f"{name}.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(path))
    if policy is not None:
        (root / "changegate.rego").write_text(MODULE)
        policy_file = root / f"{name}.yml"
        policy_file.write_text(policy)
        sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(path), "--policy", str(policy_file),
           cwd=ROOT)
    return path


def one_commit_pushes(root: Path, bare: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (user + system of git and the hook, from the children's
    rusage: steadier than wall time on a shared machine) of each push."""
    import resource

    work = root / f"work-{bare.stem}"
    sh("git", "clone", "-q", str(bare), str(work))
    times, cpu = [], []
    for run in range(runs + 1):
        (work / "src.py").write_text(f"run = {run}\n")
        sh("git", "add", "-A", cwd=work)
        sh("git", "commit", "-q", "-m", f"run {run}", cwd=work)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, env=ENV, check=True,
                       capture_output=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run:  # the first push warms the page cache and the policy cache
            times.append(elapsed)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return times, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from tests.helpers.fake_opa import FakeOPA

    root = Path(tempfile.mkdtemp(prefix="changegate-rego-bench-"))
    try:
        with FakeOPA({"changegate.rego": MODULE}) as opa:
            medians = {}
            for name, policy in (("no hook", None), *POLICIES.items()):
                text = policy.replace("URL", opa.url) if policy else None
                times, cpu = one_commit_pushes(root, server(root, name.replace(" ", "-"), text), args.runs)
                medians[name] = (statistics.median(times), statistics.median(cpu))
        base = medians["deny_paths"]
        print(f"1-commit push, median of {args.runs} runs: wall clock, and CPU of git and the hook")
        for name, (wall, cpu_time) in medians.items():
            extra = (f"  (+{(wall - base[0]) * 1000:.1f} ms wall, +{(cpu_time - base[1]) * 1000:.1f} ms CPU "
                     "over deny_paths)" if name.startswith("rego") else "")
            print(f"  {name:12} {wall * 1000:8.1f} ms wall {cpu_time * 1000:8.1f} ms CPU{extra}")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""What `require: {signed_commits: ...}` costs a push: a harness, not a test.

Makes a history of 1 + N commits signed with a fresh SSH key (ssh-keygen, `git commit -S`,
gpg.format=ssh), or with a fresh GPG key (--format gpg), then reports the median time, over
several runs, of pushing the last N commits into a bare repository that already holds the
first (so the hook's policy cache is warm) with:
  * no hook (bare);
  * the changegate hook with a one-rule policy that reads no commit (deny: [deletion]);
  * the changegate hook with `require: {signed_commits: ...}` (git verifies every commit).

    python bench/signed_bench.py [--commits 100] [--runs 5] [--format ssh|gpg]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_NOSYSTEM": "1",
       "PYTHONPATH": str(ROOT)}
PLAIN = "version: 1\nname: plain\nrules:\n  - {id: no-deletion, deny: [deletion]}\n"
SIGNED = ("version: 1\nname: signed\ntrust: {allowed_signers: allowed_signers}\nrules:\n"
          "  - id: signed\n    require:\n      signed_commits: BODY\n")


def sh(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> bytes:
    proc = subprocess.run(list(args), cwd=cwd, env=env or ENV, check=False, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    return proc.stdout


def history(root: Path, commits: int, form: str) -> tuple[Path, str]:
    """A work repository of 1 + `commits` signed commits; (its path, the policy body to judge it)."""
    work = root / "work"
    sh("git", "init", "-q", "-b", "main", str(work))
    if form == "ssh":
        key = root / "key"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key))
        kind, blob = (root / "key.pub").read_text().split()[:2]
        (root / "allowed_signers").write_text(f"bench@example.com {kind} {blob}\n")
        sh("git", "config", "gpg.format", "ssh", cwd=work)
        sh("git", "config", "user.signingkey", str(key), cwd=work)
        body, env = "{}", ENV
    else:
        home = root / "gnupg"
        home.mkdir(mode=0o700)
        env = {**ENV, "GNUPGHOME": str(home)}
        sh("gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
           "Bench <bench@example.com>", "ed25519", "sign", "never", env=env)
        (root / "keyring.asc").write_bytes(sh("gpg", "--batch", "--export", "--armor", env=env))
        (root / "allowed_signers").write_text("")
        sh("git", "config", "user.signingkey", "bench@example.com", cwd=work)
        body = "{formats: [gpg], gpg_keyring: keyring.asc}"
    try:
        for n in range(commits + 1):
            (work / f"f{n % 50}.txt").write_text(f"{n}\n")
            sh("git", "add", "-A", cwd=work, env=env)
            sh("git", "commit", "-q", "-S", "-m", f"change {n}", cwd=work, env=env)
    finally:
        if form == "gpg":
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True)
    return work, body


def push_time(root: Path, work: Path, policy: str | None) -> tuple[float, float]:
    """(wall, CPU) seconds to push all but the first commit into a fresh bare repository holding the
    first; CPU counts every process the push ran (git, the hook, ssh-keygen or gpg)."""
    server = root / "server.git"
    shutil.rmtree(server, ignore_errors=True)
    sh("git", "init", "-q", "--bare", "-b", "main", str(server))
    if policy is not None:
        (root / "policy.yml").write_text(policy)
        sh(sys.executable, "-m", "engine", "hook", "install", "--repo", str(server), "--policy",
           str(root / "policy.yml"), "--time-budget", "120")  # measured, not judged against the budget
    first = sh("git", "rev-list", "--max-parents=0", "main", cwd=work).decode().strip()
    sh("git", "push", "-q", str(server), f"{first}:refs/heads/main", cwd=work)  # warms the policy cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    sh("git", "push", "-q", str(server), "main:refs/heads/main", cwd=work)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", choices=("ssh", "gpg"), default="ssh")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signed-bench-") as tmp:
        root = Path(tmp)
        work, body = history(root, args.commits, args.format)
        results: dict[str, tuple[float, float]] = {}
        for label, policy in (("bare", None), ("hook, no commit read", PLAIN),
                              (f"hook, signed_commits ({args.format})", SIGNED.replace("BODY", body))):
            runs = [push_time(root, work, policy) for _ in range(args.runs)]
            results[label] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        bare = results["bare"][0]
        print(f"push of {args.commits} {args.format}-signed commits, median of {args.runs} runs "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
        for label, (wall, cpu) in results.items():
            print(f"  {label:<32} {wall * 1000:8.1f} ms wall ({wall / bare:.2f}x bare), {cpu * 1000:8.1f} ms CPU")
        plain, signed = results["hook, no commit read"], list(results.values())[2]
        print(f"  signed_commits adds {(signed[0] - plain[0]) * 1000:.1f} ms wall, {(signed[1] - plain[1]) * 1000:.1f} "
              f"ms CPU ({(signed[1] - plain[1]) * 1000 / args.commits:.2f} ms CPU per commit)")

if __name__ == "__main__":
    main()

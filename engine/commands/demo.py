"""`policy demo`: a local, self-contained tour of the push gate.

Creates a bare "server" repository protected by the bundled llm-remediation pack,
then plays a developer pushing to it: one accepted change and several rejected
ones, showing exactly what a pusher sees. The git commands here are the simulated
user's, so they run as a user would type them (argv lists, never a shell).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import click

from engine.commands.hook import install
from engine.resources import resource


def demo(*, keep: bool) -> int:
    root = tempfile.mkdtemp(prefix="changegate-demo-")
    try:
        return _tour(root)
    finally:
        if keep:
            click.echo(f"\nThe demo repositories are kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _tour(root: str) -> int:
    env = {**os.environ, "HOME": root, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dana Developer",
           "GIT_AUTHOR_EMAIL": "dana@example.com", "GIT_COMMITTER_NAME": "Dana Developer",
           "GIT_COMMITTER_EMAIL": "dana@example.com"}
    server, work = os.path.join(root, "server.git"), os.path.join(root, "work")
    policy = resource("policies", "llm-remediation.yml")

    def git(*args: str, cwd: str = work, show: bool = True) -> int:
        if show:
            click.secho(f"$ git {' '.join(args)}", bold=True)
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if show:
            for line in (proc.stdout + proc.stderr).splitlines():
                click.echo(f"  {line}")
        return proc.returncode

    def write(path: str, text: str) -> None:
        full = os.path.join(work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def step(title: str) -> None:
        click.secho(f"\n== {title}", fg="cyan", bold=True)

    step("An administrator protects a bare repository with the bundled policy pack")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", server], env=env, check=True)
    click.secho(f"$ policy hook install --repo {server} --policy {policy}", bold=True)
    if install(repo=server, policy_file=policy, policy_ref=None, force=False) != 0:
        return 3
    subprocess.run(["git", "clone", "-q", server, work], env=env, check=True, capture_output=True)

    results: list[tuple[str, bool, bool]] = []

    def push(title: str, expect_ok: bool, *args: str) -> None:
        ok = git("push", *args) == 0
        results.append((title, expect_ok, ok))

    step("1. A prompt change is pushed to main: accepted")
    write("prompts/system.txt", "You are a careful assistant.\n")
    write("README.md", "# support-bot\n")
    git("add", "-A", show=False)
    git("commit", "-q", "-m", "Add the system prompt")
    push("prompt change", True, "origin", "HEAD:refs/heads/main")

    step("2. Model weights are committed to git: rejected")
    write("models/support-7b/model.safetensors", "not really weights\n")
    git("add", "-A", show=False)
    git("commit", "-q", "-m", "Add fine-tuned weights")
    push("weights in git", False, "origin", "HEAD:refs/heads/main")
    git("reset", "-q", "--hard", "HEAD~1", show=False)

    step("3. A secret is added and removed again within one push: still rejected (checked per commit)")
    write(".env", "OPENAI_API_KEY=sk-demo\n")
    git("add", "-A", show=False)
    git("commit", "-q", "-m", "Configure the key")
    git("rm", "-q", ".env", show=False)
    git("commit", "-q", "-m", "Oops, remove the key")
    push("secret added then removed", False, "origin", "HEAD:refs/heads/main")
    git("reset", "-q", "--hard", "origin/main", show=False)

    step("4. History on main is rewritten with --force: rejected")
    git("commit", "-q", "--amend", "-m", "Rewrite history")
    push("force push", False, "--force", "origin", "HEAD:refs/heads/main")
    git("reset", "-q", "--hard", "origin/main", show=False)

    step("5. A release tag is published, then moved: the move is rejected")
    git("tag", "v1.0", show=False)
    push("publish tag", True, "origin", "refs/tags/v1.0")
    git("commit", "-q", "--allow-empty", "-m", "Hotfix")
    git("tag", "-f", "v1.0", show=False)
    push("move tag", False, "--force", "origin", "refs/tags/v1.0")

    step("6. Someone deletes main: rejected")
    push("delete main", False, "origin", ":refs/heads/main")

    step("Every decision is in the audit log")
    audit = os.path.join(server, "changegate", "audit.jsonl")
    from engine.audit import read

    for entry in read(audit):
        if "error" in entry:  # the hook could not judge: fail closed, recorded as such
            click.echo(f"  {entry['time']}  {entry['error']}: push rejected (exit {entry['exit_code']})")
            continue
        refs = ", ".join(f"{u['ref']} ({u['kind']})" for u in entry["updates"])
        failed = [o["rule"] for o in entry["outcomes"] if o["status"] in ("fail", "error")]
        verdict = "allowed" if entry["allowed"] else "denied by " + ", ".join(failed)
        click.echo(f"  {entry['time']}  {entry['actor']['name']}  {refs}: {verdict}")

    step("Summary")
    wrong = [(t, e, o) for t, e, o in results if e != o]
    for title, expected, ok in results:
        mark = "ok  " if expected == ok else "FAIL"
        click.echo(f"  {mark} {title}: {'accepted' if ok else 'rejected'}")
    if wrong:
        click.secho("The demo did not behave as expected.", fg="red")
        return 1
    click.echo("\nNext: README.md shows how to protect your own repository.")
    return 0

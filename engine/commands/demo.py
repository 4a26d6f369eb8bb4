"""`policy demo`: a local, self-contained tour of the push gate.

Creates a bare "server" repository protected by the bundled llm-remediation pack,
then plays a developer pushing to it: one accepted change and several rejected
ones, showing exactly what a pusher sees. The git commands here are the simulated
user's, so they run as a user would type them (argv lists, never a shell).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import click

from engine.commands.hook import install
from engine.resources import resource


def demo(*, keep: bool, page: str | None = None) -> int:
    root = tempfile.mkdtemp(prefix="changegate-demo-")
    # the decision page of the last step outlives the demo's repositories
    page = os.path.abspath(page or os.path.join(tempfile.gettempdir(), "changegate-demo-decision.html"))
    try:
        return _tour(root, page)
    finally:
        if keep:
            click.echo(f"\nThe demo repositories are kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _tour(root: str, page: str) -> int:
    env = {**os.environ, "HOME": root, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dana Developer",
           "GIT_AUTHOR_EMAIL": "dana@example.com", "GIT_COMMITTER_NAME": "Dana Developer",
           "GIT_COMMITTER_EMAIL": "dana@example.com"}
    server, work = os.path.join(root, "server.git"), os.path.join(root, "work")
    policy = resource("policies", "llm-remediation.yml")

    def git(*args: str, cwd: str = work, show: bool = True) -> int:
        if show:
            click.secho(f"$ git {' '.join(shlex.quote(a) for a in args)}", bold=True)
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

    step("4. An API key is pasted into a prompt template: rejected by what the file contains, never shown")
    write("prompts/templates/billing.txt", "When the user asks about invoices, call the billing tool.\n"
                                           "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")  # AWS's documented example
    git("add", "-A", show=False)
    git("commit", "-q", "-m", "Billing prompt")
    push("API key in a prompt", False, "origin", "HEAD:refs/heads/main")
    git("reset", "-q", "--hard", "origin/main", show=False)

    step("5. History on main is rewritten with --force: rejected")
    git("commit", "-q", "--amend", "-m", "Rewrite history")
    push("force push", False, "--force", "origin", "HEAD:refs/heads/main")
    git("reset", "-q", "--hard", "origin/main", show=False)

    step("6. A release tag is published, then moved: the move is rejected")
    git("tag", "v1.0", show=False)
    push("publish tag", True, "origin", "refs/tags/v1.0")
    git("commit", "-q", "--allow-empty", "-m", "Hotfix")
    git("tag", "-f", "v1.0", show=False)
    push("move tag", False, "--force", "origin", "refs/tags/v1.0")

    step("7. Someone deletes main: rejected")
    push("delete main", False, "origin", ":refs/heads/main")

    step("8. Weights smuggled in a tag that points at a tree, with no commit at all: rejected")
    write("models/support-7b/model.safetensors", "not really weights\n")
    git("add", "-A", show=False)
    tree = subprocess.run(["git", "write-tree"], cwd=work, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()
    git("reset", "-q", "--hard", show=False)
    push("tree tag with weights", False, "origin", f"{tree}:refs/tags/just-a-tree")

    _signed_tour(root, env, git, step, results, page)

    step("Every decision is in the audit log (here: the first server's)")
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
    click.echo(f"\nThe decision page of the last push (open it in a browser): {page}")
    click.echo("Next: README.md shows how to protect your own repository.")
    return 0


SIGNED_POLICY = """version: 1
name: llm-remediation-signed
trust: {allowed_signers: allowed_signers}
rules:
  - id: dry-run-passed
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/", "models/"]}
    require: {evidence: {type: dry-run, result: passed, env: staging, max_age: 7d, signers: [ci-dry-run]}}
  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/"]}
    require: {approvals: {count: 1, from: {signers: [alice@example.com]}}}
bypass:  # break-glass: who may push past which rules, with a reason on the record
  actors: [ONCALL]
  rules: [dry-run-passed, prompts-need-review]
  reason: required
"""


def _signed_tour(root: str, env: dict[str, str], git: Callable[..., int], step: Callable[[str], None],
                 results: list[tuple[str, bool, bool]], page: str) -> None:
    """Part two: signed dry-run evidence and a signed approval, on a server with no forge."""
    import sys

    server, work = os.path.join(root, "signed.git"), os.path.join(root, "signed-work")
    keys = {name: os.path.join(root, f"{name}_key") for name in ("ci", "alice")}
    for key in keys.values():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key], check=True, env=env)
    with open(os.path.join(root, "allowed_signers"), "w", encoding="utf-8") as f:
        for principal, name in (("ci-dry-run", "ci"), ("alice@example.com", "alice")):
            with open(keys[name] + ".pub", encoding="utf-8") as pub:
                f.write(f'{principal} namespaces="changegate-evidence,changegate-approval" {pub.read().strip()}\n')
    policy = os.path.join(root, "signed-policy.yml")
    with open(policy, "w", encoding="utf-8") as f:  # on plain git the pusher is the account: here, whoever runs this
        f.write(SIGNED_POLICY.replace("ONCALL", json.dumps(_local_user())))

    def policy_cmd(*args: str) -> int:
        click.secho(f"$ policy {' '.join(a if ' ' not in a else repr(a) for a in args)}", bold=True)
        proc = subprocess.run([sys.executable, "-m", "engine", *args], cwd=work, env=env, capture_output=True,
                              text=True, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            click.echo(f"  {line}")
        return proc.returncode

    def push(title: str, expect_ok: bool, *args: str) -> None:
        results.append((title, expect_ok, git("push", *args, cwd=work) == 0))

    step("9. Part two: a server whose policy needs a signed dry run and a signed review for prompt changes")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", server], env=env, check=True)
    click.secho(f"$ policy hook install --repo {server} --policy {policy}", bold=True)
    install(repo=server, policy_file=policy, policy_ref=None, force=False)
    subprocess.run(["git", "clone", "-q", server, work], env=env, check=True, capture_output=True)
    with open(os.path.join(work, "README.md"), "w", encoding="utf-8") as f:
        f.write("# support-bot\n")
    git("add", "-A", cwd=work, show=False)
    git("commit", "-q", "-m", "Start", cwd=work, show=False)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work, show=False)
    os.makedirs(os.path.join(work, "prompts"))
    with open(os.path.join(work, "prompts", "system.txt"), "w", encoding="utf-8") as f:
        f.write("You are a careful assistant. Cite your sources.\n")
    git("add", "-A", cwd=work, show=False)
    git("commit", "-q", "-m", "Tighten the system prompt", cwd=work)
    push("prompt change without evidence or review", False, "origin", "HEAD:refs/heads/main")

    step("10. CI dry-runs exactly this commit and attaches signed evidence to its tree")
    policy_cmd("dry-run", "--key", keys["ci"], "--env", "staging", "--attach", "--",
               sys.executable, "-c", "print('dry run: 40 prompts replayed, 0 errors')")
    git("push", "-q", "origin", "refs/notes/changegate/evidence", cwd=work)
    push("with evidence, still no review", False, "origin", "HEAD:refs/heads/main")

    step("11. A reviewer signs an approval for this tree and branch; now the push is accepted")
    policy_cmd("approve", "HEAD", "--key", keys["alice"], "--ref", "refs/heads/main", "--as", "alice@example.com",
               "--comment", "prompt reviewed")
    git("push", "-q", "origin", "refs/notes/changegate/approvals", cwd=work)
    click.echo("  The same verdict before pushing:")
    policy_cmd("check", "--policy", policy, "--ref", "refs/heads/main", "--old", "origin/main", "--new", "HEAD",
               "--actor", "dana")
    push("with evidence and approval", True, "origin", "HEAD:refs/heads/main")

    step("12. Incident: the prompt misbehaves in production; on-call reverts it at once, past the review, "
         "with a reason (break-glass)")
    git("revert", "--no-edit", "HEAD", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    click.echo("  The verdict before pushing, with its decision page (rules, what was bypassed and why, "
               "approvals, evidence, the change):")
    policy_cmd("check", "--policy", policy, "--ref", "refs/heads/main", "--old", "origin/main", "--new", "HEAD",
               "--actor", _local_user(), "--bypass", "INC-4711: revert bad prompt", "--html", page)
    push("break-glass revert", True, "-o", "changegate.bypass=INC-4711: revert bad prompt", "origin",
         "HEAD:refs/heads/main")
    from engine.audit import read

    bypass = read(os.path.join(server, "changegate", "audit.jsonl"))[-1]["bypass"]
    click.echo(f"  audit log: {bypass['actor']} bypassed {', '.join(bypass['rules'])}; reason: {bypass['reason']}")


def _local_user() -> str:
    """Who a plain git server names as the pusher: the account the hook runs as (engine.servers)."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())

"""`policy hook install`: protect a (bare) repository with the pre-receive hook.

The installed hook pins this interpreter and import path, so it starts without a
shell shim or site scan; the policy location and the time budget live in
`<git dir>/changegate/hook.json`. Push options are switched on (`receive.advertisePushOptions`)
so a pusher can ask for a break-glass bypass (engine/bypass.py).
Reinstalling is idempotent; a hook changegate did not write is never replaced silently.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig

import click

from engine.decision import EXIT_ALLOWED, EXIT_INVALID
from engine.git import Git, GitError
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.source import from_file, split_ref_spec
from engine.prereceive import CONFIG, DEFAULT_TIME_BUDGET
from engine.resources import resource

MARKER = b"changegate-managed-hook"


def install(*, repo: str, policy_file: str | None, policy_ref: str | None, force: bool,
            server: str | None = None, time_budget: float = DEFAULT_TIME_BUDGET) -> int:
    if not policy_file and not policy_ref:
        raise click.UsageError("give --policy FILE, --policy-ref REF:PATH, or both (the file is the fallback)")
    git = Git.discover(repo)
    if policy_file:
        policy_file = os.path.abspath(policy_file)
        try:
            compile_policy(from_file(policy_file).data, policy_file)
        except PolicyError as exc:
            click.echo(f"not installed: the policy is invalid:\n{exc}", err=True)
            return EXIT_INVALID
    if policy_ref:
        try:
            ref, path = split_ref_spec(policy_ref)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        if git.run_status("check-ref-format", ref, ok=(0, 1))[0] != 0:
            raise click.UsageError(f"{ref!r} is not a valid full ref name (git check-ref-format refuses it)")
        commit = git.ref(ref)
        if (commit is None or git.blob_with_id(f"{commit}:{path}") is None) and not policy_file:
            click.echo(f"warning: {ref} has no {path} yet; every push will be rejected until it does "
                       "(add --policy FILE as a fallback)", err=True)
    hooks_dir = git.run("rev-parse", "--git-path", "hooks").decode().strip()
    hooks_dir = os.path.join(git.git_dir, hooks_dir) if not os.path.isabs(hooks_dir) else hooks_dir
    target = os.path.join(hooks_dir, "pre-receive")
    if os.path.exists(target):
        with open(target, "rb") as f:
            ours = MARKER in f.read()
        if not ours and not force:
            click.echo(f"not installed: {target} exists and was not written by changegate; "
                       "move it away, or pass --force to keep it as pre-receive.before-changegate", err=True)
            return EXIT_INVALID
        if not ours:
            os.replace(target, target + ".before-changegate")
    os.makedirs(os.path.join(git.git_dir, "changegate"), exist_ok=True)
    _write(os.path.join(git.git_dir, CONFIG),
           json.dumps({"policy_file": policy_file, "policy_ref": policy_ref, "server": server,
                       "time_budget": time_budget}, indent=2) + "\n", 0o644)
    os.makedirs(hooks_dir, exist_ok=True)
    _write(target, hook_script(), 0o755)
    # break-glass asks with `git push -o changegate.bypass=...`; git refuses push options unless advertised
    try:
        git.run("config", "receive.advertisePushOptions", "true")
    except GitError as exc:  # the gate works without it; only break-glass requests cannot reach the hook
        click.echo(f"warning: could not set receive.advertisePushOptions ({exc}); pushers cannot ask for a "
                   "break-glass bypass (git push -o) until it is set", err=True)
    # Every push walks `new --not --all`: among thousands of refs git reads each tip's commit
    # (15 ms of a push among 4,000 refs) unless a commit-graph holds them (4 ms). git gc writes and
    # keeps one (gc.writeCommitGraph); this writes the first, for a repository not gc'd yet.
    try:
        git.run("commit-graph", "write", "--reachable")
    except GitError as exc:  # only speed: the walk is the same without it
        click.echo(f"warning: could not write a commit-graph ({exc}); pushes among many refs are slower "
                   "until `git gc` writes one", err=True)
    source = " then ".join(filter(None, [policy_ref, policy_file]))
    pusher = f"; pusher from {server}" if server else ""
    click.echo(f"installed {target} (policy: {source}{pusher}; time budget {time_budget:g} s)")
    return EXIT_ALLOWED


def hook_script() -> str:
    """hooks/pre-receive with this interpreter and import path pinned."""
    with open(resource("hooks", "pre-receive"), encoding="utf-8") as f:
        text = f.read()
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    package_root = os.path.dirname(package_root)
    paths = list(dict.fromkeys([package_root, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    shebang = f"#!{sys.executable} -IS"
    if len(shebang) > 250:
        raise click.ClickException(f"the interpreter path is too long for a hook's #! line: {sys.executable}")
    lines = text.splitlines()
    lines[0] = shebang
    text = "\n".join(lines) + "\n"
    return text.replace("CHANGEGATE_PATH: list[str] = []", f"CHANGEGATE_PATH: list[str] = {paths!r}")


def _write(path: str, text: str, mode: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

"""`policy pre-push`: the server's verdict before the push, in the developer's clone.

Two ways in, one judgement (`policy check` at stage push):

* from pre-commit (`.pre-commit-hooks.yaml`, stage pre-push): pre-commit reads git's pre-push
  lines itself and hands the hook one ref update in PRE_COMMIT_* variables (the remote, the
  local and remote branch, the commits). The old value is asked of the remote (`git ls-remote`),
  so a new branch is judged as the creation the server will see;
* as git's own pre-push hook: `policy pre-push REMOTE URL` with git's lines
  (`<local ref> <local oid> <remote ref> <remote oid>`) on stdin, every one judged.

The policy is the remote's: by default `.changegate/policy.yml` in the remote's default branch
(its HEAD), read at the commit the remote has now (fetched as objects when missing), never the
local copy the push may be changing. `--policy-ref REF:PATH` (or `git config changegate.policyRef`)
names the protected ref; `--policy FILE` an administrator's file instead. Commits already on
the remote (its tracking refs, as last fetched, and the old values) are not judged again.

The verdict is advice: the server's hook still decides. What cannot be judged here (the remote
is unreachable, its old commit is not in this clone) stops the push with how to fix it;
`git push --no-verify` skips every pre-push hook.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

import click

from engine import report
from engine.change import Inputs, RefUpdate, is_zero
from engine.commands.common import open_repository
from engine.decision import EXIT_DENIED, EXIT_INVALID
from engine.git import Git, GitError
from engine.policy import PolicyError, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.policy.source import PolicySource

DEFAULT_PATH = ".changegate/policy.yml"


class Unjudged(Exception):
    """The push cannot be judged here; the message says why and what to do."""


def pre_push(*, repo: str, remote: str | None, policy_file: str | None, policy_ref: str | None, fmt: str,
             html_file: str | None, lines: bytes | None, env: Mapping[str, str]) -> int:
    from engine.commands.check import decide
    from engine.policy.compile import compile_policy
    from engine.servers import ServerError, detect_actor

    git = open_repository(repo)
    remote = remote or env.get("PRE_COMMIT_REMOTE_NAME") or ""
    if not remote:
        raise click.UsageError("name the remote: run as git's pre-push hook (REMOTE URL) or from pre-commit")
    try:
        pushed = _updates_from_lines(git, lines) if lines is not None else _update_from_pre_commit(git, remote, env)
        if not pushed:
            return 0  # nothing is pushed but deletions pre-commit skips, or no line at all
        source = _policy(git, remote, policy_file, policy_ref or _config(git, "changegate.policyref"))
        policy = compile_policy(source.data, source.name)
    except Unjudged as exc:
        click.echo(f"changegate: this push cannot be judged before it is sent: {exc}", err=True)
        return EXIT_DENIED
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        return EXIT_INVALID
    try:
        who = detect_actor(dict(env))
    except ServerError as exc:
        raise click.UsageError(str(exc)) from None
    prefix = f"refs/remotes/{remote}/".encode()
    known = [(b"refs/heads/" + n[len(prefix):], o) for n, o in git.refs()
             if n.startswith(prefix) and n != prefix + b"HEAD"]
    known += [(b"refs/changegate/old/" + u.ref, u.old) for u in pushed if u.kind != "creation"]
    inputs = Inputs(now=time.time(), environ=dict(env))
    return decide(git, source, policy, pushed, who=who, stage="push", server_refs=known,
                  label=f"{remote}'s branches as last fetched and the pushed refs' old values", inputs=inputs,
                  fmt=fmt, audit_log=None, html_file=html_file)


def _updates_from_lines(git: Git, lines: bytes) -> list[RefUpdate]:
    """git's pre-push lines: `<local ref> <local oid> <remote ref> <remote oid>`, one per ref."""
    updates = []
    for raw in lines.splitlines():
        if not raw.strip():
            continue
        parts = raw.rsplit(b" ", 3)
        if len(parts) != 4:
            raise click.UsageError(f"not a pre-push line: {raw[:200]!r}")
        _local, new, ref, old = (p.decode("utf-8", "surrogateescape") for p in parts)
        updates.append(_checked(git, RefUpdate(old, new, ref.encode("utf-8", "surrogateescape"))))
    return updates


def _update_from_pre_commit(git: Git, remote: str, env: Mapping[str, str]) -> list[RefUpdate]:
    """The one update pre-commit passes: its remote branch, and the pushed commit (TO_REF, or the
    local branch when pre-commit pushes a root commit and gives no range)."""
    ref = env.get("PRE_COMMIT_REMOTE_BRANCH", "")
    if not ref.startswith("refs/"):
        raise click.UsageError("PRE_COMMIT_REMOTE_BRANCH is not set: run this hook at pre-commit's pre-push stage")
    new = env.get("PRE_COMMIT_TO_REF") or git.resolve(env.get("PRE_COMMIT_LOCAL_BRANCH", "")) or ""
    if not new:
        raise Unjudged(f"the pushed commit of {ref} is unknown (pre-commit gave no PRE_COMMIT_TO_REF)")
    old = _remote_value(git, remote, ref) or "0" * len(new)
    return [_checked(git, RefUpdate(old, new, ref.encode("utf-8", "surrogateescape")))]


def _checked(git: Git, update: RefUpdate) -> RefUpdate:
    """The remote's old commit must be here to judge a rewrite; a commit we do not have is fetched
    first (`git fetch`), never assumed."""
    if not is_zero(update.old) and git.resolve(update.old) is None:
        raise Unjudged(f"the remote's {update.name} is at {update.old[:10]}, which this clone does not have; "
                       "run `git fetch` and push again")
    return update


def _remote_value(git: Git, remote: str, ref: str) -> str | None:
    """What the remote's ref points at now (None: it does not exist), by its full name."""
    try:
        out = git.run("ls-remote", "--", remote, ref).decode("utf-8", "surrogateescape")
    except GitError as exc:
        raise Unjudged(f"cannot ask {remote} for {ref} ({exc})") from None
    for line in out.splitlines():
        oid, _, name = line.partition("\t")
        if name == ref:
            return oid
    return None


def _policy(git: Git, remote: str, file: str | None, ref_spec: str | None) -> PolicySource:
    """The remote's policy: at REF:PATH (or its default branch's .changegate/policy.yml) as the
    remote has it now, or an administrator's file."""
    from engine.policy.source import PolicySource, from_file, split_ref_spec

    if file and not ref_spec:
        return from_file(file)
    if ref_spec:
        try:
            ref, path = split_ref_spec(ref_spec)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    else:
        ref, path = _default_branch(git, remote), DEFAULT_PATH
    commit = _remote_value(git, remote, ref)
    if commit is None:
        raise PolicyError([Problem(f"{remote}:{ref}:{path}", 0, 0,
                                   f"{remote} has no {ref}, where the policy should be; give --policy-ref REF:PATH "
                                   "(or git config changegate.policyRef REF:PATH)")])
    if git.resolve(commit) is None:
        try:
            git.run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, ref)
        except GitError as exc:
            raise Unjudged(f"cannot fetch the policy from {remote} {ref} ({exc})") from None
    found = git.blob_with_id(f"{commit}:{path}")
    if found is None:
        if file:
            return from_file(file)
        raise PolicyError([Problem(f"{remote}:{ref}:{path}", 0, 0,
                                   f"no policy at {path} in {remote}'s {ref} ({commit[:10]}); commit one there, or "
                                   "give --policy-ref REF:PATH")])
    return PolicySource(found[1], f"{remote}:{ref}:{path}", ref, commit)


def _default_branch(git: Git, remote: str) -> str:
    try:
        out = git.run("ls-remote", "--symref", "--", remote, "HEAD").decode("utf-8", "surrogateescape")
    except GitError as exc:
        raise Unjudged(f"cannot ask {remote} for its default branch ({exc})") from None
    for line in out.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            return line[5:-5]
    raise Unjudged(f"{remote} names no default branch; give --policy-ref REF:PATH")


def _config(git: Git, key: str) -> str | None:
    value = git.run("config", "--get", key, ok=(0, 1)).decode("utf-8", "surrogateescape").strip()
    return value or None


@click.command("pre-push")
@click.argument("remote", required=False)
@click.argument("url", required=False)
@click.option("--repo", default=".", show_default=True, help="The clone pushing.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="An administrator's policy file instead of the remote's (or the fallback for --policy-ref).")
@click.option("--policy-ref", help="The remote's protected policy, as REF:PATH (default: git config "
                                   "changegate.policyRef, else .changegate/policy.yml in the remote's default branch).")
@click.option("--format", "fmt", type=click.Choice(report.names()), default="text", show_default=True)
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Also write the decision page here.")
def command(remote: str | None, url: str | None, repo: str, policy_file: str | None, policy_ref: str | None,
            fmt: str, html_file: str | None) -> None:
    """Before a push: judge it by the remote's policy. As git's pre-push hook (REMOTE URL, lines on
    stdin) or from pre-commit's pre-push stage. Exit 0 allowed, 1 denied, 2 invalid, 3 error."""
    from_pre_commit = "PRE_COMMIT_REMOTE_BRANCH" in os.environ
    lines = None if from_pre_commit else sys.stdin.buffer.read()
    sys.exit(pre_push(repo=repo, remote=remote, policy_file=policy_file, policy_ref=policy_ref, fmt=fmt,
                      html_file=html_file, lines=lines, env=os.environ))

"""`policy check`: judge what a push would be judged, locally, with the same engine."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from engine import report
from engine.bypass import VIA_CLI
from engine.change import Actor, BypassRequest, Change, Inputs, RefUpdate, is_zero, parse_update_lines
from engine.commands.common import open_repository, resolve_commit
from engine.decision import EXIT_INTERNAL, EXIT_INVALID
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.judge import judge
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.patterns import Matcher, PatternError, compile_patterns
from engine.policy.source import resolve
from engine.report import sinks
from engine.servers import ServerError, detect_actor

if TYPE_CHECKING:
    from engine.change import Stage


def check(*, repo: str, policy_file: str | None, policy_ref: str | None, ref: str | None,
          old: str | None, new: str | None, from_stdin: bool, stage: Stage, fmt: str,
          actor: str | None, known_refs: Sequence[str], audit_log: str | None,
          evidence: Sequence[str] = (), artifacts: Sequence[str] = (), github_pr: str | None = None,
          now: float | None = None, bypass: str | None = None) -> int:
    git = open_repository(repo)
    try:
        source = resolve(git, file=policy_file, ref_spec=policy_ref)
        policy = compile_policy(source.data, source.name)
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        return EXIT_INVALID
    if from_stdin:
        updates = parse_update_lines(sys.stdin.buffer.read())
    else:
        updates = (_update(git, ref, old, new),)
    try:
        who = Actor(actor, "cli", "--actor") if actor else detect_actor(os.environ)
    except ServerError as exc:
        raise click.UsageError(f"{exc}; or name the pusher with --actor") from None
    server_refs, label = server_view(git, updates, known_refs)
    inputs = Inputs(now=time.time() if now is None else now, evidence_files=tuple(evidence),
                    artifacts=tuple(artifacts), github_pr=github_pr, environ=dict(os.environ),
                    bypass=None if bypass is None else BypassRequest(bypass, VIA_CLI))
    facts = GitFacts(git, Change(updates, who, stage), server_refs=server_refs, server_label=label, inputs=inputs,
                     policy=policy, source=source)
    decision = judge(policy, facts)
    if audit_log:  # recorded first: a verdict that cannot be recorded is not shown
        try:
            sinks.record(audit_log, decision, policy_source=source.name)
        except OSError as exc:
            click.echo(f"error: the decision could not be recorded in {audit_log} ({exc.strerror or exc}), "
                       "so it is not given", err=True)
            return EXIT_INTERNAL
    decision = sinks.deliver(decision)
    click.echo(report.render(fmt, decision, verbose=True), nl=False)
    return decision.exit_code


def server_view(git: Git, updates: Sequence[RefUpdate],
                known_refs: Sequence[str]) -> tuple[list[tuple[bytes, str]] | None, str]:
    """What the server already has, as far as this repository can tell: (refs, description).

    A bare repository is taken to be the server (None: every ref counts, as in the hook). In
    a work tree, local branches are not on the server: what counts is `--known-ref`, else
    the push remote's tracking refs (as last fetched), else each ref's old value (old..new).
    Counting a local ref as pushed would judge nothing and answer "allowed" for a push the
    server rejects.
    """
    if known_refs:
        try:
            matcher = Matcher(compile_patterns(known_refs), known_refs)
        except PatternError as exc:
            raise click.UsageError(f"--known-ref: {exc}") from None
        return ([(n, o) for n, o in git.refs() if matcher.match(n)],
                "refs matching " + ", ".join(known_refs))
    if git.run("rev-parse", "--is-bare-repository").strip() == b"true":
        return None, ""
    remote = push_remote(git)
    if remote is not None:
        prefix = f"refs/remotes/{remote}/".encode()
        tracking = [(b"refs/heads/" + n[len(prefix):], o) for n, o in git.refs()
                    if n.startswith(prefix) and n != prefix + b"HEAD"]
        return tracking, f"{remote}'s branches as last fetched (refs/remotes/{remote}/*)"
    olds = [(u.ref, u.old) for u in updates if u.kind != "creation"]
    return olds, "the ref's old value (no remote to compare with)"


def push_remote(git: Git) -> str | None:
    """The remote `git push` would use from the current branch: branch.<b>.pushRemote,
    remote.pushDefault, branch.<b>.remote, then origin or the only remote there is."""
    code, head = git.run_status("symbolic-ref", "--quiet", "HEAD", ok=(0, 1, 128))
    branch = head.decode("utf-8", "surrogateescape").strip().removeprefix("refs/heads/") if code == 0 else ""
    config: dict[str, str] = {}
    for item in git.run("config", "-z", "--get-regexp", r"^(remote|branch)\.", ok=(0, 1)).split(b"\0"):
        key, _, value = item.decode("utf-8", "surrogateescape").partition("\n")
        config.setdefault(key, value)  # git prints keys with section and name lower-cased
    remotes = [k[7:-4] for k in config if k.startswith("remote.") and k.endswith(".url")]
    for key in (f"branch.{branch}.pushremote", "remote.pushdefault", f"branch.{branch}.remote"):
        if branch or key == "remote.pushdefault":
            name = config.get(key)
            if name and name in remotes:
                return name
    if "origin" in remotes:
        return "origin"
    return remotes[0] if len(remotes) == 1 else None


def _update(git: Git, ref: str | None, old: str | None, new: str | None) -> RefUpdate:
    if not ref or not ref.startswith("refs/"):
        raise click.UsageError("give --ref with a full ref name (e.g. refs/heads/main), or --stdin")
    if new is None:
        raise click.UsageError("give --new REV (the commit the ref would point at), or the zero id to delete")
    old_oid = _oid(git, old, "--old") if old is not None else (git.ref(ref) or "")
    new_oid = _oid(git, new, "--new")
    width = max(len(old_oid), len(new_oid), 40)  # SHA-1 or SHA-256 repositories
    return RefUpdate(old_oid or "0" * width, new_oid or "0" * width, ref.encode("utf-8", "surrogateescape"))


def _oid(git: Git, rev: str, flag: str) -> str:
    """The commit id `rev` names; "" for the zero id (no object)."""
    if is_zero(rev):
        return ""
    return resolve_commit(git, rev, flag)

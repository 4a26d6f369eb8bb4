"""`policy check`: judge what a push would be judged, locally, with the same engine."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from engine.change import Actor, Change, Inputs, RefUpdate, is_zero, parse_update_lines
from engine.commands.common import open_repository, resolve_commit
from engine.decision import EXIT_INTERNAL, EXIT_INVALID
from engine.evaluate import evaluate
from engine.facts.gitfacts import Facts
from engine.git import Git
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.patterns import Matcher, compile_patterns
from engine.policy.source import resolve
from engine.servers import detect_actor

if TYPE_CHECKING:
    from engine.change import Stage


def check(*, repo: str, policy_file: str | None, policy_ref: str | None, ref: str | None,
          old: str | None, new: str | None, from_stdin: bool, stage: Stage, fmt: str,
          actor: str | None, known_refs: Sequence[str], audit_log: str | None,
          evidence: Sequence[str] = (), artifacts: Sequence[str] = (), github_pr: str | None = None,
          now: float | None = None) -> int:
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
    who = Actor(actor, "cli", "--actor") if actor else detect_actor(os.environ)
    known = Matcher(compile_patterns(known_refs), known_refs) if known_refs else None
    inputs = Inputs(now=time.time() if now is None else now, evidence_files=tuple(evidence),
                    artifacts=tuple(artifacts), github_pr=github_pr)
    facts = Facts(git, Change(updates, who, stage), known_refs=known, inputs=inputs, policy=policy, source=source)
    decision = evaluate(policy, facts)
    if audit_log:  # recorded first: a verdict that cannot be recorded is not shown
        from engine import audit

        try:
            audit.append(audit_log, audit.record(decision, exit_code=decision.exit_code,
                                                 policy_source=source.name))
        except OSError as exc:
            click.echo(f"error: the decision could not be recorded in {audit_log} ({exc.strerror or exc}), "
                       "so it is not given", err=True)
            return EXIT_INTERNAL
    if fmt == "json":
        from engine.report.json_report import render as render_json

        click.echo(render_json(decision), nl=False)
    else:
        from engine.report.text import render

        click.echo(render(decision, verbose=True), nl=False)
    return decision.exit_code


def _update(git: Git, ref: str | None, old: str | None, new: str | None) -> RefUpdate:
    if not ref or not ref.startswith("refs/"):
        raise click.UsageError("give --ref with a full ref name (e.g. refs/heads/main), or --stdin")
    if new is None:
        raise click.UsageError("give --new REV (the commit the ref would point at), or the zero id to delete")
    old_oid = _oid(git, old, "--old") if old is not None else (git.resolve(ref) or "")
    new_oid = _oid(git, new, "--new")
    width = max(len(old_oid), len(new_oid), 40)  # SHA-1 or SHA-256 repositories
    return RefUpdate(old_oid or "0" * width, new_oid or "0" * width, ref.encode("utf-8", "surrogateescape"))


def _oid(git: Git, rev: str, flag: str) -> str:
    """The commit id `rev` names; "" for the zero id (no object)."""
    if is_zero(rev):
        return ""
    return resolve_commit(git, rev, flag)

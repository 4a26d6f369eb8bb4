"""`policy replay`: what would a policy have denied over a ref's history? (engine/replay.py)

Exit 0 when no replayed update would have been denied, 1 when some would, 2 for an invalid
policy or usage (no such ref, a bad duration).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from engine.change import Actor, show
from engine.commands.common import open_repository
from engine.decision import EXIT_ALLOWED, EXIT_DENIED, EXIT_INVALID
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.source import resolve
from engine.replay import (
    UNKNOWN_PUSHER,
    Found,
    Plan,
    Replay,
    ReplayError,
    Step,
    default_ref,
    findings,
    plan,
    read_history,
)
from engine.times import format_time, parse_duration

if TYPE_CHECKING:
    from engine.change import Stage

SHOWN = 10  # commits and paths listed per rule in the text summary; JSON lists them all


def replay(*, repo: str, policy_file: str, refs: Sequence[str], since: str | None, stage: Stage, fmt: str,
           actor: str | None) -> int:
    git = open_repository(repo)
    try:
        source = resolve(git, file=policy_file, ref_spec=None)
        policy = compile_policy(source.data, source.name)
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        return EXIT_INVALID
    try:
        window = parse_duration(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    cutoff = time.time() - window if window is not None else None
    try:
        names = list(dict.fromkeys(refs)) or [default_ref(git)]
        history = read_history(git, names, since=cutoff)
    except ReplayError as exc:
        raise click.UsageError(str(exc)) from None
    chosen = plan(policy, stage)
    who = Actor(actor, "cli", "--actor") if actor else UNKNOWN_PUSHER
    engine = Replay(git, history, chosen, stage=stage, actor=who, source=source, environ=dict(os.environ))
    matchers = {rule.id: rule.refs for rule in engine.rules}
    found: list[Found] = []
    steps = 0
    bar = click.progressbar(length=len(history.steps), label="replaying", file=sys.stderr) \
        if sys.stderr.isatty() and history.steps else None
    try:
        if bar is not None:
            bar.__enter__()
        for step, decision, facts in engine.run(progress=bar.update if bar is not None else None):
            steps += 1
            if not decision.allowed or any(o.status == "warn" for o in decision.outcomes):
                found += findings(step, decision, facts, matchers)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    result = summary(policy, chosen, names, history.steps, found, stage=stage, since=since, cutoff=cutoff,
                     actor=who)
    text = json.dumps(result, indent=2, ensure_ascii=False) if fmt == "json" else render_text(result)
    click.echo(text, nl=fmt == "json")
    return EXIT_DENIED if result["denied_updates"] else EXIT_ALLOWED


def summary(policy: dict[str, Any], chosen: Plan, refs: list[str], steps: list[Step], found: list[Found], *,
            stage: str, since: str | None, cutoff: float | None, actor: Actor) -> dict[str, Any]:
    """The replay's result as plain data: the json format, and what the text format renders."""
    per_rule: dict[str, dict[str, Any]] = {}
    denied_steps: set[tuple[bytes, str]] = set()
    for f in found:
        entry = per_rule.setdefault(f.rule, {"rule": f.rule, "denies": f.denies, "statuses": {},
                                             "updates": 0, "commits": {}, "paths": {}})
        entry["updates"] += 1
        entry["statuses"][f.status] = entry["statuses"].get(f.status, 0) + 1
        entry["commits"].update(dict.fromkeys(f.commits))
        entry["paths"].update(dict.fromkeys(f.paths))
        if f.denies:
            denied_steps.add((f.step.ref, f.step.new))
    rules = [{**e, "commits": list(e["commits"]), "paths": list(e["paths"])}
             for e in sorted(per_rule.values(), key=lambda e: (not e["denies"], -e["updates"], e["rule"]))]
    details: dict[tuple[bytes, str], dict[str, Any]] = {}
    for f in found:
        key = (f.step.ref, f.step.new)
        if key not in details:
            details[key] = {"ref": show(f.step.ref), "old": f.step.old or None, "new": f.step.new,
                            "time": format_time(f.step.time), "denied": False, "outcomes": []}
        details[key]["denied"] = details[key]["denied"] or f.denies
        details[key]["outcomes"].append({
            "rule": f.rule, "status": f.status, "denies": f.denies, "message": f.message, "seen": list(f.seen),
            "required": f.required, "fix": f.fix, "commits": list(f.commits), "paths": list(f.paths)})
    return {
        "policy": policy["name"], "digest": policy["digest"], "stage": stage, "refs": refs,
        "since": since, "from": format_time(cutoff) if cutoff is not None else None,
        "actor": actor.name or None,
        "updates": len(steps), "denied_updates": len(denied_steps),
        "first": format_time(steps[0].time) if steps else None, "last": format_time(steps[-1].time) if steps else None,
        "rules": rules,
        "not_replayable": [s._asdict() for s in chosen.not_replayable],
        "records_as_now": list(chosen.records_now),
        "not_at_stage": list(chosen.other_stages),
        "details": list(details.values()),
    }


def render_text(r: dict[str, Any]) -> str:
    out = []
    window = f"since {r['from']} ({r['since']})" if r["since"] else "whole history"
    span = f", {r['first']} to {r['last']}" if r["first"] else ""
    out.append(f"policy '{r['policy']}' replayed at stage {r['stage']} over {', '.join(r['refs'])} "
               f"({window}): {r['updates']:,} update(s){span}")
    out.append(f"would have denied {r['denied_updates']:,} of {r['updates']:,} update(s)")
    if r["actor"] is None:
        out.append("pusher: unknown in history, so except.actors exempts nobody (--actor NAME judges as NAME)")
    if r["rules"]:
        out.append("")
        out.append(f"{'rule':<32}{'verdict':>8}{'updates':>10}{'commits':>10}{'paths':>8}")
        for e in r["rules"]:
            verdict = "deny" if e["denies"] else "warn"
            out.append(f"{e['rule']:<32}{verdict:>8}{e['updates']:>10,}{len(e['commits']):>10,}{len(e['paths']):>8,}")
        for e in r["rules"]:
            out.append("")
            out.append(f"{e['rule']}: {e['updates']:,} update(s), {len(e['commits']):,} commit(s), "
                       f"{len(e['paths']):,} path(s)")
            out.append(f"  commits: {_listing([c[:10] for c in e['commits']])}")
            if e["paths"]:
                out.append(f"  paths:   {_listing([show(p) for p in e['paths']])}")
    if r["not_replayable"]:
        out.append("")
        out.append(f"not replayable: {len(r['not_replayable'])} rule(s)")
        out += [f"  {s['rule']} ({s['kind']}): {s['reason']}" for s in r["not_replayable"]]
    if r["records_as_now"]:
        out.append("")
        out.append(f"judged with records as they are now (approval and evidence notes; history does not keep "
                   f"their past): {', '.join(r['records_as_now'])}")
    others = [name for name in r["not_at_stage"] if name not in {s["rule"] for s in r["not_replayable"]}]
    if others:
        out.append("")
        out.append(f"not judged at stage {r['stage']} (their `on:`): {', '.join(others)}")
    if r["details"]:
        out.append("")
        out.append("details:")
        for d in r["details"]:
            old = d["old"][:10] if d["old"] else "(created)"
            out.append(f"{d['ref']} {old}..{d['new'][:10]} at {d['time']}")
            for o in d["outcomes"]:
                tag = {"fail": "DENY", "error": "ERROR", "warn": "WARN"}[o["status"]]
                if o["status"] == "fail" and not o["denies"]:
                    tag = "WARN"
                out.append(f"  [{tag}] {o['rule']}: {o['message']}")
                out += [f"    seen: {line}" for line in o["seen"]]
    return "\n".join(out) + "\n"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN:,} more" if len(items) > SHOWN else "")


@click.command("replay")
@click.option("--repo", default=".", show_default=True, help="Repository (work tree or bare) whose history to replay.")
@click.option("--policy", "policy_file", required=True, type=click.Path(dir_okay=False), help="Policy file.")
@click.option("--ref", "refs", multiple=True, metavar="REF",
              help="Full ref name to replay, e.g. refs/heads/main (repeatable; default: the HEAD branch).")
@click.option("--since", metavar="DURATION", help="Only updates at most this old, e.g. 90d, 12w, 36h (default: all).")
@click.option("--stage", type=click.Choice(["push", "merge", "deploy"]), default="push", show_default=True,
              help="Judge each update as at this stage (push: as the hook would).")
@click.option("--actor", help="Judge as this pusher (default: unknown, so except.actors exempts nobody).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(**options: Any) -> None:
    """What would a policy have denied? Judge every first-parent update of the ref(s) as a push.
    Exit 0 nothing denied, 1 some update denied, 2 invalid policy or usage."""
    sys.exit(replay(**options))

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
from engine.prereceive import AUDIT
from engine.replay import (
    UNKNOWN_PUSHER,
    AuditReplay,
    Found,
    Plan,
    Replay,
    ReplayError,
    Step,
    audit_log,
    default_ref,
    findings,
    plan,
    read_audit,
    read_history,
)
from engine.times import format_time, parse_duration

if TYPE_CHECKING:
    from engine.change import Stage

SHOWN = 10  # commits and paths listed per rule in the text summary; JSON lists them all


def replay(*, repo: str, policy_file: str, refs: Sequence[str], since: str | None, stage: Stage, fmt: str,
           actor: str | None, origin: str = "auto") -> int:
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
    log = audit_log(git) if origin != "history" else None
    if origin == "audit" and log is None:
        raise click.UsageError(f"{git.git_dir} has no changegate audit log ({AUDIT}): replay its history "
                               "with --from history")
    chosen = plan(policy, stage)
    who = Actor(actor, "cli", "--actor") if actor else None
    engine: Replay | AuditReplay
    unreadable = 0
    try:
        names = list(dict.fromkeys(refs))
        if log is not None:
            for name in names:
                if not name.startswith("refs/"):
                    raise ReplayError(f"{name!r} is not a full ref name: write refs/heads/{name} (or refs/tags/...)")
            recorded = read_audit(log, names, since=cutoff)
            steps, unreadable = recorded.steps, recorded.unreadable
            engine = AuditReplay(git, steps, chosen, stage=stage, actor=who, source=source,
                                 environ=dict(os.environ))
        else:
            names = names or [default_ref(git)]
            history = read_history(git, names, since=cutoff)
            steps = history.steps
            engine = Replay(git, history, chosen, stage=stage, actor=who or UNKNOWN_PUSHER, source=source,
                            environ=dict(os.environ))
    except ReplayError as exc:
        raise click.UsageError(str(exc)) from None
    matchers = {rule.id: rule.refs for rule in engine.rules}
    found: list[Found] = []
    bar = click.progressbar(length=len(steps), label="replaying", file=sys.stderr) \
        if sys.stderr.isatty() and steps else None
    try:
        if bar is not None:
            bar.__enter__()
        for step, decision, facts in engine.run(progress=bar.update if bar is not None else None):
            if not decision.allowed or any(o.status == "warn" for o in decision.outcomes):
                found += findings(step, decision, facts, matchers)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    result = summary(policy, chosen, names, steps, found, stage=stage, since=since, cutoff=cutoff, actor=who)
    result["source"] = f"audit log {log}" if log is not None else "history"
    if isinstance(engine, AuditReplay):
        result["unreadable_records"] = unreadable
        result["not_judgeable"] = [_step_dict(s) for s in engine.missing]
    text = json.dumps(result, indent=2, ensure_ascii=False) if fmt == "json" else render_text(result)
    click.echo(text, nl=fmt == "json")
    return EXIT_DENIED if result["denied_updates"] else EXIT_ALLOWED


def _step_dict(step: Step) -> dict[str, Any]:
    return {"ref": show(step.ref), "old": step.old or None, "new": step.new, "time": format_time(step.time),
            "more": [{"ref": u.name, "old": u.old, "new": u.new} for u in step.more],
            "actor": step.actor.name if step.actor else None}


def summary(policy: dict[str, Any], chosen: Plan, refs: list[str], steps: list[Step], found: list[Found], *,
            stage: str, since: str | None, cutoff: float | None, actor: Actor | None) -> dict[str, Any]:
    """The replay's result as plain data: the json format, and what the text format renders."""
    per_rule: dict[str, dict[str, Any]] = {}
    denied_steps: set[tuple[bytes, str, float]] = set()
    for f in found:
        entry = per_rule.setdefault(f.rule, {"rule": f.rule, "denies": f.denies, "statuses": {},
                                             "updates": 0, "commits": {}, "paths": {}})
        entry["updates"] += 1
        entry["statuses"][f.status] = entry["statuses"].get(f.status, 0) + 1
        entry["commits"].update(dict.fromkeys(f.commits))
        entry["paths"].update(dict.fromkeys(f.paths))
        if f.denies:
            denied_steps.add((f.step.ref, f.step.new, f.step.time))
    rules = [{**e, "commits": list(e["commits"]), "paths": list(e["paths"])}
             for e in sorted(per_rule.values(), key=lambda e: (not e["denies"], -e["updates"], e["rule"]))]
    details: dict[tuple[bytes, str, float], dict[str, Any]] = {}
    for f in found:
        key = (f.step.ref, f.step.new, f.step.time)
        if key not in details:
            details[key] = {**_step_dict(f.step), "denied": False, "outcomes": []}
        details[key]["denied"] = details[key]["denied"] or f.denies
        details[key]["outcomes"].append({
            "rule": f.rule, "status": f.status, "denies": f.denies, "message": f.message, "seen": list(f.seen),
            "required": f.required, "fix": f.fix, "commits": list(f.commits), "paths": list(f.paths)})
    return {
        "policy": policy["name"], "digest": policy["digest"], "stage": stage, "refs": refs,
        "since": since, "from": format_time(cutoff) if cutoff is not None else None,
        "actor": actor.name if actor else None,
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
    out.append(f"policy '{r['policy']}' replayed at stage {r['stage']} over {', '.join(r['refs']) or 'every ref'} "
               f"({window}): {r['updates']:,} update(s){span}")
    out.append(f"would have denied {r['denied_updates']:,} of {r['updates']:,} update(s)")
    if r["source"] != "history":
        out.append(f"each update is a push recorded in the {r['source']}, judged as pushed by its recorded pusher")
        if r["unreadable_records"]:
            out.append(f"{r['unreadable_records']:,} record(s) of the log hold no push to judge (hook errors "
                       "recorded without their ref updates, or damaged lines)")
        if r["not_judgeable"]:
            out.append(f"{len(r['not_judgeable']):,} recorded push(es) could not be judged: their objects are not "
                       "in the repository (git drops the objects of a rejected push)")
    elif r["actor"] is None:
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
            more = "".join(f", {u['ref']} {u['old'][:10]}..{u['new'][:10]}" for u in d["more"])
            who = f" by {d['actor']}" if d["actor"] else ""
            out.append(f"{d['ref']} {old}..{d['new'][:10]}{more} at {d['time']}{who}")
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
@click.option("--from", "origin", type=click.Choice(["auto", "history", "audit"]), default="auto", show_default=True,
              help="What to replay: each first-parent step of the refs' history, or each push changegate's audit "
                   "log recorded (auto: the audit log when the repository has one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(**options: Any) -> None:
    """What would a policy have denied? Judge every first-parent update of the ref(s) as a push.
    Exit 0 nothing denied, 1 some update denied, 2 invalid policy or usage."""
    sys.exit(replay(**options))

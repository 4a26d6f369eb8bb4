"""The verdict for a human terminal: one short block per failed rule, one line otherwise.

On a push, git prefixes every line with `remote: `; lines stay short and ASCII.
"""

from __future__ import annotations

from engine.change import show
from engine.decision import Decision, Outcome

_MARK = {"fail": "DENY", "error": "ERROR", "warn": "WARN", "pass": "ok", "skip": "skip"}


def render(decision: Decision, *, verbose: bool = False) -> str:
    blocking = [o for o in decision.outcomes if o.denies]
    warnings = [o for o in decision.outcomes if not o.denies and o.status in ("warn", "error", "fail")]
    lines: list[str] = []
    if blocking:
        lines.append(f"changegate: {decision.stage} rejected by policy {decision.policy!r} "
                     f"({len(blocking)} rule(s) failed)")
        for outcome in blocking:
            lines += ["", *_block(outcome)]
        for outcome in warnings:
            lines += ["", *_block(outcome)]
        lines += ["", *_judged(decision), ""]
    else:
        applied = sum(1 for o in decision.outcomes if o.status != "skip")
        note = f", {len(warnings)} warning(s): {', '.join(o.rule for o in warnings)}" if warnings else ""
        commits = len({c for j in decision.judged for c in j.commits})
        lines.append(f"changegate: {decision.stage} allowed by policy {decision.policy!r} "
                     f"({applied} of {len(decision.outcomes)} rules applied, {commits} new commit(s) judged{note})")
    if verbose:
        lines.append("")
        lines += [f"  {_MARK[o.status]:5} {o.rule}: {o.message}" for o in decision.outcomes]
        if not blocking:
            lines += ["", *_judged(decision)]
    return "\n".join(lines) + "\n"


def _judged(decision: Decision) -> list[str]:
    """Which commits the rules judged, per ref update: a verdict on nothing must be visible."""
    if not decision.judged:
        return ["judged: no commits (no rule looked at commits or paths)"]
    return [f"judged: {show(j.describe())}" for j in decision.judged]


def _block(outcome: Outcome) -> list[str]:
    label = _MARK[outcome.status] + (" (evaluate mode, not enforced)" if not outcome.denies else "")
    lines = [f"[{label}] {outcome.rule}: {outcome.message}"]
    lines += [f"  seen:     {s}" for s in outcome.seen]
    if outcome.required:
        lines.append(f"  required: {outcome.required}")
    if outcome.fix:
        lines.append(f"  to fix:   {outcome.fix}")
    return lines

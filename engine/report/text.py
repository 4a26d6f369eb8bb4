"""The `text` format, for a human terminal: one short block per failed rule, one line otherwise.

On a push, git prefixes every line with `remote: `; lines stay short and ASCII.
"""

from __future__ import annotations

from engine.change import show
from engine.decision import Bypass, Decision, Outcome
from engine.report import ApprovalRecords, Measurement, Rollback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.report import Report

_MARK = {"fail": "DENY", "error": "ERROR", "warn": "WARN", "pass": "ok", "skip": "skip", "bypassed": "BYPASSED"}


def render(subject: Report, *, verbose: bool = False) -> str:
    """`verbose`: a decision lists every rule's outcome, not only the failed ones (policy check)."""
    if isinstance(subject, Decision):
        return _decision(subject, verbose=verbose)
    if isinstance(subject, Measurement):
        return _measurement(subject)
    if isinstance(subject, Rollback):
        word = {"keep": "KEEP", "rollback": "ROLL BACK", "error": "ERROR"}[subject.verdict]
        return f"changegate: {word}: {subject.summary}\n"
    return _approvals(subject)


def _decision(decision: Decision, *, verbose: bool) -> str:
    blocking = [o for o in decision.outcomes if o.denies]
    warnings = [o for o in decision.outcomes if not o.denies and o.status in ("warn", "error", "fail")]
    lines: list[str] = []
    bypass = decision.bypass
    granted = bypass is not None and bypass.status == "granted"
    if bypass is not None and granted:
        lines += _bypassed(decision, bypass, warnings)
    elif blocking:
        lines.append(f"changegate: {decision.stage} rejected by policy {decision.policy!r} "
                     f"({len(blocking)} rule(s) failed)")
        if bypass is not None:
            lines.append(f"changegate: bypass refused: {bypass.message}")
        for outcome in blocking:
            lines += ["", *_block(outcome)]
        for outcome in warnings:
            lines += ["", *_block(outcome)]
        lines += ["", *_judged(decision), ""]
    else:
        applied = sum(1 for o in decision.outcomes if o.status != "skip")
        note = f", {len(warnings)} warning(s): {', '.join(o.rule for o in warnings)}" if warnings else ""
        commits = len(set().union(*(j.commits for j in decision.judged)))  # C-level: 80,000 commits per walk
        lines.append(f"changegate: {decision.stage} allowed by policy {decision.policy!r} "
                     f"({applied} of {len(decision.outcomes)} rules applied, {commits} new commit(s) judged{note})")
        if bypass is not None:
            lines.append(f"changegate: bypass not used: {bypass.message}")
        # a warning's own words reach the pusher (a Rego `warn` message is addressed to them)
        lines += [f"changegate: [{_MARK[o.status]}] {o.rule}: {o.message}" for o in warnings]
    if verbose:
        lines.append("")
        lines += [f"  {_MARK[o.status]:5} {o.rule}: {o.message}" for o in decision.outcomes]
        if not blocking and not granted:
            lines += ["", *_judged(decision)]
    return "\n".join(lines) + "\n"


def _bypassed(decision: Decision, bypass: Bypass, warnings: list[Outcome]) -> list[str]:
    """A change that passes only because rules were bypassed: said first, plainly, with the reason."""
    lines = [f"changegate: BYPASS: {decision.stage} allowed by policy {decision.policy!r} only because "
             f"{show(bypass.actor)} bypassed {len(bypass.rules)} rule(s) that denied it: {', '.join(bypass.rules)}",
             f"changegate: bypass reason: {bypass.reason or '(none given)'}"]
    for outcome in [o for o in decision.outcomes if o.status == "bypassed"] + warnings:
        lines += ["", *_block(outcome)]
    return [*lines, "", *_judged(decision), ""]


def _judged(decision: Decision) -> list[str]:
    """Which commits the rules judged, per ref update: a verdict on nothing must be visible."""
    if not decision.judged:
        return ["judged: no commits (no rule looked at commits or paths)"]
    return [f"judged: {show(j.describe())}" for j in decision.judged]


def _block(outcome: Outcome) -> list[str]:
    bypassed = outcome.status == "bypassed"
    label = _MARK[outcome.status] + (" (evaluate mode, not enforced)" if not outcome.denies and not bypassed else "")
    lines = [f"[{label}] {outcome.rule}: {outcome.message}"]
    lines += [f"  seen:     {s}" for s in outcome.seen]
    if outcome.required:
        lines.append(f"  required: {outcome.required}")
    if outcome.fix and not bypassed:
        lines.append(f"  to fix:   {outcome.fix}")
    return lines


def _measurement(m: Measurement) -> str:
    from engine.times import format_time

    lines = [f"measurement {m.number}/{m.total} at {format_time(m.at)}: {'FAIL' if m.failed else 'ok'}"]
    for o in m.decision.outcomes:
        lines.append(f"  [{o.status.upper()}] {o.rule}: {o.message}")
        lines += [f"      seen:     {line}" for line in o.seen]
        if o.status != "pass" and o.required:
            lines.append(f"      required: {o.required}")
        if o.status in ("fail", "error") and o.fix:
            lines.append(f"      to fix:   {o.fix}")
    return "\n".join(lines) + "\n"


def _approvals(listing: ApprovalRecords) -> str:
    from engine.approvals import APPROVED

    rows = listing.records
    lines = [f"commit {listing.commit[:10]} (tree {listing.tree[:10]}): {len(rows)} approval record(s)"
             + ("" if listing.verified else "; signatures NOT checked (give --allowed-signers or --policy)")]
    for row in rows:
        if "approver" in row:
            what = "approved" if row["decision"] == APPROVED else "requested changes"
            mark = {"valid": "ok", "unverified": "??"}.get(row["status"], "REJECTED")
            comment = f" - {row['comment']}" if row["comment"] else ""
            lines.append(f"  [{mark}] {row['approver']} {what} for {row['ref']} at {row['time']} "
                         f"(commit {row['commit'][:10]}){comment}")
        if row["status"] not in ("valid", "unverified"):
            lines.append(f"        {row['status']}: {row['reason']}")
    return "\n".join(lines) + "\n"

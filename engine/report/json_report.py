"""The `json` format, for machines (CI, dashboards, `policy check --format json`).

`as_dict` is the one JSON form of a Decision: the json format, the Action's report file, the
audit log (engine.audit) and rollback-check's measurement lines are all built from it or
from its parts, so a field is added or renamed in one place.
"""

from __future__ import annotations

from engine.decision import Decision
from engine.report import ApprovalRecords, Measurement, Rollback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.change import RefUpdate
    from engine.decision import Bypass, Outcome
    from engine.report import Report


def render(subject: Report, *, verbose: bool = False) -> str:
    """Indented JSON for a decision or a listing; one line per measurement and for the final verdict
    (a watch streams them). `verbose` changes nothing: JSON always has every outcome."""
    import json  # here, not at the top: the hook imports this module for its dicts, never renders JSON

    if isinstance(subject, Decision):
        return json.dumps(as_dict(subject), indent=2, ensure_ascii=False) + "\n"
    if isinstance(subject, Measurement):
        from engine.times import format_time

        return json.dumps({
            "type": "measurement", "number": subject.number, "count": subject.total, "time": subject.at,
            "at": format_time(subject.at), "failed": subject.failed,
            "outcomes": [outcome_dict(o) for o in subject.decision.outcomes]}, ensure_ascii=False) + "\n"
    if isinstance(subject, Rollback):
        return json.dumps({
            "type": "decision", "decision": subject.verdict, "exit_code": subject.exit_code,
            "measurements": subject.measurements, "failures": subject.failures,
            "failure_limit": subject.failure_limit, "summary": subject.summary,
            "policy": {"name": subject.policy, "digest": subject.policy_digest}}) + "\n"
    assert isinstance(subject, ApprovalRecords)
    return json.dumps({"commit": subject.commit, "tree": subject.tree, "records": subject.records},
                      indent=2, sort_keys=True) + "\n"


def as_dict(decision: Decision, **extra: Any) -> dict[str, Any]:
    """The decision as JSON data; `extra` adds top-level fields (the Action's `policy_edited`)."""
    return {
        "allowed": decision.allowed,
        "exit_code": decision.exit_code,
        "policy": {"name": decision.policy, "digest": decision.policy_digest},
        "stage": decision.stage,
        "actor": decision.actor._asdict(),
        "updates": [update_dict(u) for u in decision.updates],
        "judged": [{"ref": j.ref, "basis": j.basis, "commits": list(j.commits)} for j in decision.judged],
        "outcomes": [outcome_dict(o) for o in decision.outcomes],
        "bypass": bypass_dict(decision.bypass),
        **extra,
    }


def bypass_dict(bypass: Bypass | None) -> dict[str, Any] | None:
    """A break-glass request and what became of it (status granted | refused | unneeded); None: none asked."""
    if bypass is None:
        return None
    return {"status": bypass.status, "actor": bypass.actor, "reason": bypass.reason, "via": bypass.via,
            "rules": list(bypass.rules), "message": bypass.message}


def update_dict(update: RefUpdate) -> dict[str, str]:
    return {"ref": update.name, "old": update.old, "new": update.new, "kind": update.kind}


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    """An outcome without its notice: the notice's URL may hold a secret, and what became of the
    notice is in the message once engine.report.sinks delivered it. `decision_id` only when a
    decision service gave one."""
    o = outcome
    found = {"rule": o.rule, "status": o.status, "message": o.message, "seen": list(o.seen),
             "required": o.required, "fix": o.fix, "enforcement": o.enforcement, "paths": list(o.paths)}
    if o.decision_id:  # an OPA server's id for the decision, to correlate with its decision log
        found["decision_id"] = o.decision_id
    return found

"""The verdict as JSON for machines (CI, dashboards, `policy check --format json`)."""

from __future__ import annotations

import json
from typing import Any

from engine.decision import Decision


def as_dict(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "exit_code": decision.exit_code,
        "policy": {"name": decision.policy, "digest": decision.policy_digest},
        "stage": decision.stage,
        "actor": decision.actor._asdict(),
        "updates": [{"ref": u.name, "old": u.old, "new": u.new, "kind": u.kind} for u in decision.updates],
        "judged": [{"ref": j.ref, "basis": j.basis, "commits": list(j.commits)} for j in decision.judged],
        "outcomes": [
            {"rule": o.rule, "status": o.status, "message": o.message, "seen": list(o.seen),
             "required": o.required, "fix": o.fix, "enforcement": o.enforcement, "paths": list(o.paths)}
            for o in decision.outcomes
        ],
    }


def render(decision: Decision) -> str:
    return json.dumps(as_dict(decision), indent=2, ensure_ascii=False) + "\n"

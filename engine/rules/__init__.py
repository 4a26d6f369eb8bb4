"""Rule kinds: an explicit registry from policy key to class, imported on demand.

Lazy so a push only imports the kinds its policy uses (approvals or thresholds
would otherwise drag HTTP and crypto libraries onto the hook path).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.rules.base import Rule

REGISTRY: dict[str, tuple[str, str]] = {
    "deny": ("engine.rules.refs", "DenyRefs"),
    "deny_paths": ("engine.rules.paths", "DenyPaths"),
    "require.approvals": ("engine.rules.approvals", "RequireApprovals"),
    "require.evidence": ("engine.rules.evidence", "RequireEvidence"),
    "require.threshold": ("engine.rules.thresholds", "RequireThreshold"),
    "require.alerts": ("engine.rules.thresholds", "RequireAlerts"),
    "require.benchmark": ("engine.rules.benchmarks", "RequireBenchmark"),
}


def build_rules(compiled: dict[str, Any]) -> list[Rule]:
    rules = []
    for spec in compiled["rules"]:
        module, name = REGISTRY[spec["kind"]]
        rules.append(getattr(importlib.import_module(module), name)(spec))
    return rules

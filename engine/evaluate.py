"""Judge a change: build the rules of a compiled policy and combine their outcomes.

An exception inside one rule becomes that rule's `error` outcome (which denies
when the rule is enforced) instead of aborting the others: fail closed, explained.
"""

from __future__ import annotations

from engine.decision import Decision, Outcome
from engine.facts.gitfacts import Facts
from engine.git import GitError
from engine.rules import build_rules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def evaluate(compiled: dict[str, Any], facts: Facts) -> Decision:
    outcomes, crashed = [], []
    rules = build_rules(compiled)
    if any(rule.needs_paths and facts.stage in rule.stages for rule in rules):
        try:
            facts.prefetch()
        except GitError:
            pass  # only an optimisation: each rule that needs the walk meets the error and reports it
    for rule in rules:
        try:
            outcomes.append(rule.judge(facts))
        except Exception as exc:  # noqa: BLE001 - one rule failing must not hide the others' verdicts
            crashed.append(rule.id)
            outcomes.append(Outcome(
                rule.id, "error", f"could not be evaluated: {type(exc).__name__}: {exc}",
                fix="retry; if it persists, report it to the repository administrator",
                enforcement=rule.enforcement))
    return Decision(compiled["name"], compiled["digest"], facts.stage, facts.actor,
                    facts.updates, tuple(outcomes), tuple(crashed), tuple(facts.judged()))

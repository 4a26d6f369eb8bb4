"""Judge a change: build the rules of a compiled policy and combine their outcomes.

A change that updates one of changegate's own notes refs is also judged by the built-in
rule `changegate-records` (engine/rules/records.py), whatever the policy says: the
records a policy relies on must not be removable by the changes it judges.

An exception inside one rule becomes that rule's `error` outcome (which denies
when the rule is enforced) instead of aborting the others: fail closed, explained.
"""

from __future__ import annotations

from engine.decision import Decision, Outcome
from engine.facts.gitfacts import Facts
from engine.git import GitError
from engine.notes import only_grows
from engine.rules import build_rules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def evaluate(compiled: dict[str, Any], facts: Facts) -> Decision:
    outcomes, crashed = [], []
    rules = build_rules(compiled)
    if any(only_grows(u.ref) for u in facts.updates):
        from engine.rules.records import RecordsOnlyGrow

        rules.insert(0, RecordsOnlyGrow.builtin())
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

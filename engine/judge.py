"""Judge a change: build the rules of a compiled policy and combine their outcomes into a Decision.

The one pipeline behind every entry point: the push hook, `policy check`, `policy action` and
each measurement of `policy rollback-check` gather their facts and call judge(); what they do
with the Decision (record it, deliver notices, render it) happens afterwards, in
engine.report.sinks and engine.report. Click-free and side-effect-free: a rule that wants
something sent returns it as data (Outcome.notice).

A change that updates one of changegate's own notes refs is also judged by the built-in
rule `changegate-records` (engine/rules/records.py), whatever the policy says: the
records a policy relies on must not be removable by the changes it judges.

A measurement (Facts.measurement: no change, only the running system, see
engine/facts/measurement.py) is judged by the rules on live data alone; the others judge
what a change brings, and there is none.

A break-glass request (Inputs.bypass) is answered after every rule has judged, by
engine.bypass.decide: it can turn outcomes that deny into `bypassed`, never into `pass`,
and the Decision carries what became of it.

Rules whose kind reads other rules' outcomes (rego: its input document summarises
approvals and evidence) are judged after all the others and handed their outcomes; the
Decision lists outcomes in the policy's order whatever the order of judging.

An exception inside one rule becomes that rule's `error` outcome (which denies
when the rule is enforced) instead of aborting the others: fail closed, explained.
"""

from __future__ import annotations

from engine.decision import Decision, Outcome, RuleRef
from engine.git import GitError
from engine.notes import only_grows
from engine.rules import build_rules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from engine.facts.interface import Facts
    from engine.policy.patterns import MatcherGroup
    from engine.rules.base import Rule

_CRASH_FIX = "retry; if it persists, report it to the repository administrator"
_CRASH_FIX_MEASURED = "report it to the policy's maintainers"  # no repository, no administrator of one


def judge(policy: dict[str, Any], facts: Facts, *, rules: Sequence[Rule] | None = None) -> Decision:
    """`rules`: the policy's rules built once by the caller (build_rules, their path matchers
    grouped by group_matchers), for one that judges many changes with one policy (`policy
    replay`): building them again for each change would rebuild every pattern set. Such a
    caller calls MatcherGroup.forget() between changes."""
    crashed: list[str] = []
    rules = _rules(policy, facts, rules)
    if not facts.measurement and any(rule.needs_paths and facts.stage in rule.stages for rule in rules):
        try:
            facts.prefetch()
        except GitError:
            pass  # only an optimisation: each rule that needs the walk meets the error and reports it
    judged: dict[int, Outcome] = {}
    # rules that read outcomes (rego) go last, handed the others' outcomes; reports keep policy order
    for index in sorted(range(len(rules)), key=lambda i: rules[i].reads_outcomes):
        rule = rules[index]
        if rule.reads_outcomes:
            rule.earlier = tuple((rules[i].kind, judged[i]) for i in sorted(judged) if not rules[i].reads_outcomes)
        try:
            judged[index] = rule.judge(facts)
        except Exception as exc:  # noqa: BLE001 - one rule failing must not hide the others' verdicts
            crashed.append(rule.id)
            judged[index] = Outcome(
                rule.id, "error", f"could not be evaluated: {type(exc).__name__}: {exc}",
                fix=_CRASH_FIX_MEASURED if facts.measurement else _CRASH_FIX, enforcement=rule.enforcement)
    final, bypass = tuple(judged[i] for i in range(len(rules))), None
    request = None if facts.measurement else facts.inputs.bypass
    if request is not None:
        from engine.bypass import decide

        final, bypass = decide(policy, facts.actor, request, final)
    return Decision(policy["name"], policy["digest"], facts.stage, facts.actor,
                    facts.updates, final, tuple(crashed), tuple(facts.judged()), bypass,
                    policy.get("source", ""), tuple(RuleRef(r["id"], r["kind"], r["line"]) for r in policy["rules"]))


def _rules(policy: dict[str, Any], facts: Facts, built: Sequence[Rule] | None) -> list[Rule]:
    rules = list(built) if built is not None else build_rules(policy)
    if facts.measurement:
        from engine.rules.thresholds import LiveRule

        return [rule for rule in rules if isinstance(rule, LiveRule)]
    if built is None:
        group_matchers(rules)
    if any(only_grows(u.ref) for u in facts.updates):
        from engine.rules.records import RecordsOnlyGrow

        rules.insert(0, RecordsOnlyGrow.builtin())
    return rules


def group_matchers(rules: Sequence[Rule]) -> MatcherGroup | None:
    """Each changed path is matched once against every rule's path patterns: one group for them all
    (returned, for a caller that forgets its answers between changes). The rules' `refs:` form a
    second group, so a push builds one pattern set for them instead of one per rule (~1 ms each);
    refs are never normalised, so sharing the paths' group would make it build a second set."""
    from engine.policy.patterns import MatcherGroup

    refs = [rule.refs for rule in rules if rule.refs is not None]
    if len(refs) > 1:
        MatcherGroup(refs)
    matchers = [m for rule in rules for m in (rule.when, *rule.patterns.values()) if m is not None]
    return MatcherGroup(matchers) if len(rules) > 1 and len(matchers) > 1 else None

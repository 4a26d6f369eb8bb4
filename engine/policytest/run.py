"""Run policy tests: judge each described case with the real engine and compare.

Each case is judged by `engine.judge.judge` with the compiled policy, on MemoryFacts built
from the case (engine/policytest/world.py): the same rules, the same fail-closed answers to
what the facts cannot say, the same decision as a push would get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.decision import Decision, Outcome
from engine.policy import PolicyError, Problem
from engine.policytest import spec
from engine.policytest.world import trusted_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.identities import Identities
    from engine.rego import Module

BUILTIN_RULES = ("changegate-records",)  # judged whatever the policy says (engine/judge.py)


@dataclass
class Difference:
    """What a case expected and what the engine decided: the decision, or one rule's status."""

    rule: str | None  # None: the decision
    expected: str
    actual: str
    message: str = ""  # the rule's explanation (its outcome's message)
    line: int = 0

    def describe(self) -> str:
        what = "decision" if self.rule is None else self.rule
        text = f"{what}: expected {self.expected}, got {self.actual}"
        return f"{text} ({self.message})" if self.message else text


@dataclass
class CaseResult:
    file: str
    line: int
    name: str
    policy: str
    differences: list[Difference] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


def run(paths: list[str]) -> Report:
    """Every case of the test files PATHS name; PolicyError for a test file or policy that
    cannot be used (every problem found, file:line:col), LookupError when PATHS hold no tests."""
    files = [f for path in paths for f in spec.find(path)]
    if not files:
        raise LookupError(f"no test files in {', '.join(paths)}: name them NAME.tests.yml beside NAME.yml, "
                          "or put them in a tests/ folder beside the policy")
    problems: list[Problem] = []
    loaded = []
    for path in dict.fromkeys(files):
        try:
            root, test = spec.load(path)
            policy = _compiled(test.policy)
            spec.check_rules(test, root, [r["id"] for r in policy["rules"]] + list(BUILTIN_RULES))
            trust = trusted_files(policy)
        except PolicyError as exc:
            problems += exc.problems
            continue
        loaded.append((test, policy, trust))
    if problems:
        raise PolicyError(problems)
    report = Report()
    rego_done: set[str] = set()
    for test, policy, trust in loaded:
        for case in test.cases:
            report.results.append(run_case(test, case, policy, trust))
        if policy["source"] not in rego_done:
            rego_done.add(policy["source"])
            report.results += rego_tests(test, policy)
    return report


_COMPILED: dict[str, dict[str, Any]] = {}


def _compiled(path: str) -> dict[str, Any]:
    import os

    from engine.policy.compile import compile_policy
    from engine.policy.source import from_file

    key = os.path.abspath(path)
    if key not in _COMPILED:
        _COMPILED[key] = compile_policy(from_file(path).data, path)
    return _COMPILED[key]


def run_case(test: spec.TestFile, case: spec.Case, policy: dict[str, Any],
             trust: tuple[dict[str, bytes], Identities | None] = ({}, None)) -> CaseResult:
    from engine.judge import judge
    from engine.policytest.world import facts

    result = CaseResult(test.path, case.line, case.name, test.policy)
    with facts(case, policy, trust) as described:
        decision = judge(policy, described)
    result.decision = decision
    outcomes = {o.rule: o for o in decision.outcomes}
    actual = "allow" if decision.allowed else "deny"
    if case.expect_decision is not None and case.expect_decision != actual:
        result.differences.append(Difference(None, case.expect_decision, actual, _why(decision, actual),
                                             case.line))
    for rid, expected in case.expect_rules.items():
        outcome = outcomes.get(rid)
        status = outcome.status if outcome else "absent"
        if status != expected:
            result.differences.append(Difference(rid, expected, status, outcome.message if outcome else
                                                 "the rule gave no outcome", case.rule_lines.get(rid, case.line)))
    return result


def _why(decision: Decision, actual: str) -> str:
    """Which rules made the decision what it is."""
    if actual == "deny":
        deniers: list[Outcome] = [o for o in decision.outcomes if o.denies]
        return "denied by " + ", ".join(f"{o.rule} [{o.status}]" for o in deniers)
    return "no enforced rule failed"


def rego_tests(test: spec.TestFile, policy: dict[str, Any]) -> list[CaseResult]:
    """The `test_*` rules of the policy's embedded Rego modules, one result each, run as `opa
    test` runs them (engine.rego.run_tests). The modules and data files are read from beside the
    policy, as for an administrator's policy; the caller asks once per policy, however many test
    files name it. A module that is missing or does not compile is one failing result."""
    import os

    from engine.rego import Module, RegoError, run_tests

    here = os.path.dirname(os.path.abspath(policy["source"]))
    results: list[CaseResult] = []
    for rule in policy["rules"]:
        params = rule["params"]
        if rule["implementation"][0] != "engine.rules.rego" or not isinstance(params, dict) or params.get("opa"):
            continue
        where = f"rule {rule['id']}"
        try:
            modules = [Module(os.path.join(here, m), _read(here, m)) for m in params.get("modules") or ()]
            data = [_read(here, d) for d in params.get("data") or ()]
            ran = run_tests(modules, data=data)
        except (OSError, UnicodeDecodeError, RegoError) as exc:
            failed = CaseResult(policy["source"], rule["line"], f"{where}: Rego tests", test.policy)
            failed.differences.append(Difference(None, "the modules load", "they do not", str(exc), rule["line"]))
            results.append(failed)
            continue
        for outcome in ran:
            file, line = _test_location(modules, outcome.name)
            result = CaseResult(file, line, f"{outcome.name} ({where})", test.policy)
            if not outcome.passed:
                result.differences.append(Difference(None, "true", outcome.message, "", line))
            results.append(result)
    return results


def _read(here: str, name: str) -> str:
    import os

    with open(os.path.join(here, name), encoding="utf-8") as f:
        return f.read()


def _test_location(modules: Sequence[Module], name: str) -> tuple[str, int]:
    """Where the test rule `data.<package>.<rule>` is defined: its module and line (1 if not found)."""
    rule = name.rsplit(".", 1)[-1]
    for module in modules:
        for number, line in enumerate(module.source.splitlines(), 1):
            if line.startswith(rule) and line[len(rule):len(rule) + 1] in (" ", "{", "(", "", "["):
                return module.name, number
    return (modules[0].name if modules else ""), 1

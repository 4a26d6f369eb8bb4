"""What every rule shares: where it applies (stage, refs, paths, actors) and its enforcement.

A rule kind subclasses `Rule` and implements `evaluate(facts, updates)`; `judge`
decides applicability first, so kinds only ever see updates they apply to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from engine.change import RefUpdate, show
from engine.decision import Outcome
from engine.facts.gitfacts import Facts, Unjudgeable
from engine.policy.patterns import Matcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from engine.decision import Status
    from engine.policy.patterns import Verdict

MAX_SEEN = 12  # lines of evidence per outcome; the rest is counted


class Rule(ABC):
    kind: ClassVar[str]
    reads_paths: ClassVar[bool] = False  # whether evaluate() looks at changed paths

    def __init__(self, spec: dict[str, Any]) -> None:
        self.id: str = spec["id"]
        self.line: int = spec["line"]
        self.stages: list[str] = spec["on"]
        self.refs = Matcher(spec["refs"][1], spec["refs"][0]) if spec["refs"] else None
        self.when = Matcher(spec["when_paths"][1], spec["when_paths"][0]) if spec["when_paths"] else None
        # an allow: the server user name exactly as listed (no case folding, no normalisation,
        # no identity mapping), so no look-alike or differently-cased account is exempt
        self.exempt = frozenset(spec["except_actors"])
        self.enforcement: str = spec["enforcement"]
        self.message: str = spec["message"]
        self.params: dict[str, Any] = spec["params"]
        self.needs_paths = self.reads_paths or self.when is not None

    def judge(self, facts: Facts) -> Outcome:
        try:
            return self._judge_applicable(facts)
        except Unjudgeable as exc:  # doubt denies: a rule that needs paths cannot pass without them
            return self.enforced(self.outcome(
                "fail", str(exc), required="every pushed ref ends in a commit or a tree, whose paths can be judged",
                fix="push commits (or delete the ref); an administrator can set `blob_refs: allow` in the policy"))

    def _judge_applicable(self, facts: Facts) -> Outcome:
        if facts.stage not in self.stages:
            return self.outcome("skip", f"not judged at stage {facts.stage}")
        if facts.actor.name in self.exempt:
            return self.outcome("skip", f"{facts.actor.name} is exempt (except.actors)")
        updates = [u for u in facts.updates if self.refs is None or self.refs.match(u.ref)]
        if not updates:
            return self.outcome("skip", "no updated ref matches " + ", ".join(self.refs.patterns)
                                if self.refs else "no ref updated")
        why = ""
        if self.when is not None:
            touched = {u: self._when_match(facts, u) for u in updates}
            updates = [u for u in updates if touched[u] is not None]
            if not updates:
                return self.outcome("skip", "no changed path matches " + ", ".join(self.when.patterns))
            matches = [m for m in touched.values() if m is not None]
            if all(verdict.normalized for _, verdict in matches):  # doubt applies the rule, and says why
                path, verdict = matches[0]
                why = (f"the rule applies because {show(path)} matches when.paths "
                       f"{verdict.pattern} after case/Unicode normalisation")
        outcome = self.enforced(self.evaluate(facts, updates))
        if why and outcome.status != "skip":
            outcome = outcome._replace(seen=(why, *outcome.seen))
        return outcome

    def enforced(self, outcome: Outcome) -> Outcome:
        """In evaluate mode a failure is reported as a warning and never denies."""
        if outcome.status == "fail" and self.enforcement == "evaluate":
            return outcome._replace(status="warn")
        return outcome

    @abstractmethod
    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        """Judge the updates this rule applies to."""

    def _when_match(self, facts: Facts, update: RefUpdate) -> tuple[bytes, Verdict] | None:
        """A changed path matching when.paths: one that matches exactly if any does."""
        assert self.when is not None
        found = None
        for path in facts.changes_for(update, self.refs):
            verdict = self.when.decide(path)
            if verdict is None:
                continue
            if not verdict.normalized:
                return path, verdict
            found = found or (path, verdict)
        return found

    def by_action(self, action: str, message: str, *, seen: list[str] | None = None, required: str = "",
                  fix: str = "", error: bool = False) -> Outcome:
        """The outcome of a check that could not pass, as the policy chose (on_error, on_no_data,
        on_inconclusive): deny (fail, or error when the check itself broke), allow, or warn."""
        if action == "allow":
            return self.outcome("pass", f"allowed by policy although {message}", seen=seen, required=required)
        if action == "warn":
            return self.outcome("warn", message, seen=seen, required=required, fix=fix)
        return self.outcome("error" if error else "fail", message, seen=seen, required=required, fix=fix)

    def outcome(self, status: Status, message: str, *, seen: list[str] | None = None,
                required: str = "", fix: str = "", paths: list[str] | None = None) -> Outcome:
        if status == "fail" and self.message:
            message = f"{self.message} ({message})"
        return Outcome(self.id, status, message, tuple(_bounded(seen or [])), required, fix,
                       self.enforcement, tuple(dict.fromkeys(paths or [])))


def _bounded(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_SEEN:
        return lines
    return [*lines[:MAX_SEEN], f"... and {len(lines) - MAX_SEEN} more"]


def short(oid: str) -> str:
    return oid[:10]


__all__ = ["Rule", "short", "show"]

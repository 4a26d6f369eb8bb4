"""What every rule shares: where it applies (stage, refs, paths, actors) and its enforcement,
and how a rule kind declares itself.

A rule kind is one module in engine/rules/ with one `Rule` subclass that declares, as class
attributes, everything the loader, compiler and validator need: its policy key (`kind`), its
typed parameters with their defaults (`Params`), its default stages, whether it asks live
services, its pattern fields, the sources and trust it needs. Its JSON Schema fragment is
policies/schema/kinds/<kind>.json. `engine.rules.kinds()` finds it; nothing else names it.

`judge` decides applicability first, so `evaluate(facts, updates)` only ever sees updates the
rule applies to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from engine.change import RefUpdate, show
from engine.decision import Outcome
from engine.facts.interface import Unjudgeable
from engine.policy.patterns import Matcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from engine.change import Stage
    from engine.decision import Status
    from engine.facts.interface import Facts
    from engine.policy.patterns import Verdict

MAX_SEEN = 12  # lines of evidence per outcome; the rest is counted


class Rule(ABC):
    # --- what a kind declares -------------------------------------------------------------
    kind: ClassVar[str]  # its key in a policy rule: "deny_paths", or "require.approvals" for require: {approvals}
    Params: ClassVar[type[Any]]  # typed parameters (a NamedTuple; defaults are the schema's defaults)
    default_stages: ClassVar[tuple[Stage, ...]] = ("push", "merge")
    live: ClassVar[bool] = False  # asks live services: never judged on push (servers give hooks ~5 s)
    pattern_fields: ClassVar[tuple[str, ...]] = ()  # git path patterns in its parameters ("" is the body itself)
    reads_paths: ClassVar[bool] = False  # whether evaluate() looks at changed paths
    regex_fields: ClassVar[tuple[str, ...]] = ()  # RE2 regular expressions in its parameters (checked on load)
    # judged after the rules that do not read outcomes, and handed theirs in `earlier` (rego)
    reads_outcomes: ClassVar[bool] = False

    params: Any  # an instance of Params; each kind narrows the type

    @classmethod
    def sources(cls, params: Any) -> tuple[str, ...]:
        """The `sources:` entries of the policy that rules of this kind read, for these parameters."""
        return ()

    @classmethod
    def needs_trust(cls, params: Any) -> bool:
        """Whether these parameters check signatures, so the policy must name trust.allowed_signers."""
        return False

    # --- a rule of the policy ------------------------------------------------------------------

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
        self.params = parse_params(self.Params, spec["params"])
        self.patterns = {field: Matcher(compiled, raw) for field, (raw, compiled) in spec["patterns"].items()}
        self.needs_paths = self.reads_paths or self.when is not None
        # (kind, outcome) of each rule judged before this one, set by judge() when reads_outcomes
        self.earlier: tuple[tuple[str, Outcome], ...] = ()

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
        for path, verdict in self.when.select(facts.changes_for(update, self.refs)).items():
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


# Parameter names that are Python keywords get a trailing underscore (for -> for_, from -> from_).
_KEYWORDS = frozenset(("for", "from"))


def parse_params(params_type: type[Any], body: Any) -> Any:
    """A kind's typed parameters from its (schema-validated) policy body: a list body is the only
    field; lists become tuples, so parameters are immutable; absent keys take their defaults."""
    if not isinstance(body, dict):
        return params_type(tuple(body) if isinstance(body, list) else body)
    return params_type(**{(key + "_" if key in _KEYWORDS else key): tuple(value) if isinstance(value, list) else value
                          for key, value in body.items()})


def _bounded(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_SEEN:
        return lines
    return [*lines[:MAX_SEEN], f"... and {len(lines) - MAX_SEEN} more"]


def short(oid: str) -> str:
    return oid[:10]


__all__ = ["Rule", "short", "show"]

"""Outcomes of rules, the decision they add up to, and exit codes."""

from __future__ import annotations

from engine.change import Actor, RefUpdate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, NamedTuple

    from engine.change import Stage

    # bypassed: would have denied, and an actor the policy names bypassed it with a reason (break-glass)
    Status = Literal["pass", "fail", "warn", "skip", "error", "bypassed"]
    BypassStatus = Literal["granted", "refused", "unneeded"]
else:
    from engine.lighttuple import NamedTuple

EXIT_ALLOWED = 0
EXIT_DENIED = 1
EXIT_INVALID = 2  # invalid policy or usage
EXIT_INTERNAL = 3  # unexpected error; a push is still denied


class Notice(NamedTuple):
    """A message a rule asks to send once the decision stands (approvals missing: a webhook POST).

    Data, not an action: judging has no side effects, so a rule returns what should be sent
    and engine.report.sinks delivers it after the verdict is recorded (in the push hook, within what
    is left of the time budget). `url` may carry a secret in its path: never show or record it.
    """

    url: str
    payload: dict[str, Any]  # the JSON body


class Outcome(NamedTuple):
    """What one rule concluded, explained: what was seen, what is required, how to satisfy it."""

    rule: str
    status: Status
    message: str
    seen: tuple[str, ...] = ()
    required: str = ""
    fix: str = ""
    enforcement: str = "enforce"
    paths: tuple[str, ...] = ()  # files the outcome is about, for annotations (repository-relative)
    notice: Notice | None = None  # to deliver after the decision (engine.report.sinks), never while judging
    decision_id: str = ""  # the id an external decision service gave this verdict (OPA), for the audit log

    @property
    def denies(self) -> bool:
        return self.status in ("fail", "error") and self.enforcement == "enforce"


class Judged(NamedTuple):
    """Which commits were judged for one ref update, and why those: every output says so."""

    ref: str
    basis: str  # e.g. "2 commit(s) not on any ref of the repository", "3 commit(s) in 1a2b..9f8e"
    commits: tuple[str, ...]  # commit ids (a tree's id when a ref points at a tree)

    def describe(self) -> str:
        return f"{self.ref}: {self.basis}"


class Bypass(NamedTuple):
    """What became of a break-glass request (engine.bypass): granted (the rules in `rules` were
    bypassed and the change passes because of it), refused (nothing bypassed; `message` says why)
    or unneeded (no rule denied). `reason` is already neutralised: safe on a terminal and in a log."""

    status: BypassStatus
    actor: str
    reason: str
    via: str  # how it was asked: "push option changegate.bypass", "--bypass"
    message: str
    rules: tuple[str, ...] = ()  # the rules bypassed (granted only)


class Decision(NamedTuple):
    policy: str
    policy_digest: str
    stage: Stage
    actor: Actor
    updates: tuple[RefUpdate, ...]
    outcomes: tuple[Outcome, ...]
    crashed: tuple[str, ...] = ()  # rules whose evaluation raised: unexpected, not a verdict
    judged: tuple[Judged, ...] = ()  # which commits each ref update brought to the rules
    bypass: Bypass | None = None  # a break-glass request and what became of it; None: none asked

    @property
    def allowed(self) -> bool:
        return not any(o.denies for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        if self.allowed:
            return EXIT_ALLOWED
        return EXIT_INTERNAL if self.crashed else EXIT_DENIED

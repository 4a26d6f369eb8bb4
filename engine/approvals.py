"""Approvals: who signed off on a change, and whether that is enough.

Two sources, one judgement. A source (engine.facts.approvals: GitHub reviews, or signed
records in git notes, engine.records.approvals) turns what it reads into `Vote`s (one
standing decision per approver) and `Rejected` records (what proved nothing, and why);
`tally` then applies the policy shared by both: nobody approves their own change, only
eligible approvers count, an eligible approver's request for changes vetoes, and with
`invalidate_on_push` an approval counts only for the exact tree (GitHub: head commit)
it was given on. When approvals are missing, the rule's outcome
carries a notice for the webhook (engine.report.sinks delivers it).

This module is imported by the push hook; it needs nothing beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:

    from engine.identities import Owners
    from engine.rules.approvals import ApprovalsParams

APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
DECISIONS = (APPROVED, CHANGES_REQUESTED)
NOTES_PREFIX = b"refs/notes/"


# --- the requirement ------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """`require: {approvals: {...}}` with its defaults."""

    count: int
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    exclude_author: bool = True
    invalidate_on_push: bool = True
    webhook: str | None = None

    @classmethod
    def from_params(cls, params: ApprovalsParams) -> Requirement:
        eligible = params.from_ or {}
        return cls(
            count=params.count,
            users=tuple(eligible.get("users", ())),
            teams=tuple(eligible.get("teams", ())),
            signers=tuple(eligible.get("signers", ())),
            exclude_author=params.exclude_author,
            invalidate_on_push=params.invalidate_on_push,
            webhook=(params.notify or {}).get("webhook"),
        )

    @property
    def restricted(self) -> bool:
        """Whether `from:` limits who may approve (without it, any authenticated approver may)."""
        return bool(self.users or self.teams or self.signers)

    def describe(self, *, on: str = "the exact tree judged") -> str:
        parts = []
        if self.users:
            parts.append("users " + ", ".join(self.users))
        if self.teams:
            parts.append("members of team(s) " + ", ".join(self.teams))
        if self.signers:
            parts.append("signers " + ", ".join(self.signers))
        who = " or ".join(parts) if parts else "any approver"
        rules = []
        if self.exclude_author:
            rules.append("not by an author of the change or its pusher")
        rules.append(f"given on {on}" if self.invalidate_on_push
                     else "given on any commit the change brings")
        return f"{self.count} approval(s) from {who}, {', '.join(rules)}, and no eligible request for changes"


# --- what sources produce ----------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """One approver's standing decision (their latest), wherever it came from."""

    who: str
    decision: str  # APPROVED | CHANGES_REQUESTED
    fresh: bool  # given on what is judged now (the tree pushed, or the PR head)
    on: str  # what it was given on, for people: "commit 1a2b3c4d5e (tree 9f8e7d6c5b)"
    via: str  # "review" | "signed record"
    comment: str = ""


@dataclass(frozen=True)
class Rejected:
    """A record that proves nothing, with the reason (stable) and the explanation."""

    reason: str
    message: str


@dataclass(frozen=True)
class Eligibility:
    ok: bool
    why: str = ""


@dataclass
class Tally:
    """The judgement of one set of votes against one requirement."""

    valid: list[Vote] = field(default_factory=list)
    vetoes: list[Vote] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # lines: who, and why it does not count
    rejected: list[Rejected] = field(default_factory=list)
    needed: int = 0

    @property
    def satisfied(self) -> bool:
        return self.needed == 0 and not self.vetoes

    def seen(self) -> list[str]:
        lines = [f"veto: {v.who} requested changes ({v.via}, {v.on})" for v in self.vetoes]
        lines += [f"valid: approved by {v.who} ({v.via}, {v.on})" for v in self.valid]
        lines += [f"ignored: {line}" for line in self.ignored]
        lines += [f"rejected record: {r.reason}: {r.message}" for r in self.rejected]
        return lines


def tally(requirement: Requirement, votes: Sequence[Vote], rejected: Sequence[Rejected], *,
          owners: Owners, eligible: Callable[[str], Eligibility], judged: str) -> Tally:
    """Apply the shared rules: self-approval, eligibility, veto, freshness, count.

    `owners` says whether an approver is one of the change's own people (its pusher, authors,
    committers; engine.identities). `eligible` may raise (e.g. a team GitHub does not let the
    token read): callers fail closed. `judged` names what an approval must be given on, for the
    stale explanation.
    """
    result = Tally(rejected=list(rejected))
    counted: dict[str, Vote] = {}  # person -> the approval counted for them
    for vote in votes:
        verb = "approved" if vote.decision == APPROVED else "requested changes on"
        why = owners.match(vote.who) if requirement.exclude_author else None
        if why is not None:
            result.ignored.append(f"{vote.who} {verb} their own change ({why}; exclude_author)")
            continue
        verdict = eligible(vote.who)
        if not verdict.ok:
            done = "approved" if vote.decision == APPROVED else "requested changes"
            result.ignored.append(f"{vote.who} {done} but is not eligible: {verdict.why}")
            continue
        if vote.decision == CHANGES_REQUESTED:
            result.vetoes.append(vote)
        elif not vote.fresh:
            result.ignored.append(f"{vote.who}'s approval is stale: given on {vote.on}, but {judged} "
                                  "is judged now (invalidate_on_push)")
        else:
            person, how = owners.person_of(vote.who)
            first = counted.setdefault(person, vote)
            if first is not vote:  # one person, several principals: one approval
                result.ignored.append(f"{vote.who}'s approval is not counted again: {how} as "
                                      f"{first.who}, who already approved")
                continue
            result.valid.append(vote)
    result.needed = max(0, requirement.count - len(result.valid))
    return result

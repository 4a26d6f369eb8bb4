"""`deny: [non_fast_forward, deletion, creation, update]` on matching refs."""

from __future__ import annotations

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, NamedTuple

    from engine.facts.interface import Facts

    RefChange = Literal["non_fast_forward", "deletion", "creation", "update"]
else:
    from engine.lighttuple import NamedTuple


class DenyParams(NamedTuple):
    deny: tuple[RefChange, ...]

_FIX = {
    "non_fast_forward": "integrate the remote history (git pull --rebase) and push without --force",
    "deletion": "this ref may not be deleted; ask a repository administrator",
    "creation": "push to a ref name this rule does not cover",
    "update": "this ref is immutable (e.g. a release tag): create a new one instead of moving it",
}
_VERB = {
    "non_fast_forward": "force-pushed (non-fast-forward)",
    "deletion": "deleted",
    "creation": "created",
    "update": "moved to another commit",
}


class DenyRefs(Rule):
    kind = "deny"
    Params = DenyParams
    params: DenyParams

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        denied = set(self.params.deny)
        seen, hit = [], []
        for u in updates:
            kinds: list[str] = [u.kind]
            if u.kind == "update" and "non_fast_forward" in denied and not facts.is_fast_forward(u):
                kinds.insert(0, "non_fast_forward")
            for kind in kinds:
                if kind in denied:
                    seen.append(_describe(u, kind))
                    hit.append(kind)
                    break
        what = " or ".join(_VERB[k] for k in self.params.deny)
        patterns = ", ".join(self.refs.patterns) if self.refs else "any ref"
        if not seen:
            return self.outcome("pass", f"no ref was {what}")
        fixes = "; ".join(dict.fromkeys(_FIX[k] for k in hit))
        return self.outcome("fail", f"{len(seen)} ref update(s) not allowed", seen=seen,
                            required=f"refs matching {patterns} may not be {what}", fix=fixes)


def _describe(u: RefUpdate, kind: str) -> str:
    if kind == "deletion":
        return f"{u.name}: deletion (was {short(u.old)})"
    if kind == "creation":
        return f"{u.name}: creation at {short(u.new)}"
    if kind == "non_fast_forward":
        return f"{u.name}: non-fast-forward {short(u.old)} -> {short(u.new)} ({short(u.old)} is not in the new history)"
    return f"{u.name}: update {short(u.old)} -> {short(u.new)}"

"""Break-glass: a named actor bypasses named rules of a policy, with a reason, on the record.

In an incident a team must sometimes push what a rule denies (revert a bad prompt before
its review). The policy says who may and which rules (`bypass: {actors, rules, reason}`);
the pusher asks with a push option (`git push -o changegate.bypass="INC-4711: revert"`) or
`policy check --bypass REASON`. The request is data on engine.change.Inputs; `decide` runs
inside engine.judge (no side effects) after every rule has judged, and the verdict travels on
the Decision to the audit log and the reporters.

What a request can and cannot do, so a wrong allow cannot come of it:
* it names no actor: the pusher is who the server says (engine.servers); an actor the policy
  does not list (matched exactly, like `except.actors`) is refused, and the push is judged
  as if nothing had been asked;
* it is all or nothing: granted only when every rule that denies is listed in bypass.rules;
  otherwise nothing is bypassed and the refusal names the rules that cannot be;
* changegate's built-in rules (`changegate-records`) are never bypassed, whatever is listed;
* only outcomes that deny become `bypassed` (never `pass`); warnings and passes stay as they are;
* the reason is shown and recorded neutralised (control characters escaped, so it cannot forge
  `remote:` lines or log lines) and limited in length; a malformed request (the option given
  twice) is refused, not guessed at.
"""

from __future__ import annotations

from engine.change import BypassRequest, show
from engine.decision import Bypass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from engine.change import Actor
    from engine.decision import BypassStatus, Outcome

OPTION = "changegate.bypass"
VIA_PUSH_OPTION = f"push option {OPTION}"
VIA_CLI = "--bypass"
MAX_REASON = 1000  # characters: a ticket and a sentence; a longer request is refused (and recorded cut there)
MAX_PUSH_OPTIONS = 100  # read from the hook's environment; past it a bypass request is refused
BUILTIN_PREFIX = "changegate-"  # built-in checks (engine/rules/records.py): never bypassed
ASK = f'git push -o {OPTION}="INC-123: what and why" (policy check --bypass REASON)'


def from_push_options(environ: Mapping[str, str]) -> BypassRequest | None:
    """The bypass request among the push options git hands the hook (GIT_PUSH_OPTION_COUNT and
    GIT_PUSH_OPTION_<n>, set by receive-pack only when the pusher gave `-o`), or None.

    `changegate.bypass=REASON` asks; `changegate.bypass` alone asks with no reason. The key is
    compared without case and surrounding spaces (a near miss asks, so it is answered, not ignored).
    """
    count = environ.get("GIT_PUSH_OPTION_COUNT", "")
    if not (count.isascii() and count.isdigit()):
        return None
    found = []
    for index in range(min(int(count), MAX_PUSH_OPTIONS)):
        key, _, reason = environ.get(f"GIT_PUSH_OPTION_{index}", "").partition("=")
        if key.strip().lower() == OPTION:
            found.append(reason)
    if not found:
        return None
    problem = ""
    if len(found) > 1:
        problem = f"{OPTION} was given {len(found)} times: give it once"
    elif int(count) > MAX_PUSH_OPTIONS:
        problem = f"the push has {int(count):,} push options: changegate reads at most {MAX_PUSH_OPTIONS}"
    return BypassRequest(found[0], VIA_PUSH_OPTION, problem)


def neutral(reason: str) -> str:
    """The reason as shown and recorded: control and format characters escaped, surrounding space cut."""
    return show(reason.strip())


def decide(policy: Mapping[str, Any], actor: Actor, request: BypassRequest,
           outcomes: Sequence[Outcome]) -> tuple[tuple[Outcome, ...], Bypass]:
    """The outcomes after a bypass request, and what became of it. Side-effect-free."""
    denying = [o for o in outcomes if o.denies]
    reason = neutral(request.reason[:MAX_REASON + 1])
    name = policy.get("name", "")

    def verdict(status: BypassStatus, message: str, rules: tuple[str, ...] = ()) -> Bypass:
        return Bypass(status, actor.name, reason, request.via, message, rules)

    if not denying:
        return tuple(outcomes), verdict("unneeded", "no rule denied this change, so nothing was bypassed")
    grant = policy.get("bypass")
    refusal = _refusal(grant, name, actor, request)
    if refusal:
        return tuple(outcomes), verdict("refused", refusal + "; nothing was bypassed")
    assert grant is not None
    builtin = [o.rule for o in denying if o.rule.startswith(BUILTIN_PREFIX)]
    unlisted = [o.rule for o in denying if o.rule not in grant["rules"] and not o.rule.startswith(BUILTIN_PREFIX)]
    if builtin or unlisted:
        why = []
        if unlisted:
            why.append(f"{', '.join(unlisted)} cannot be bypassed (bypass.rules does not list "
                       f"{'it' if len(unlisted) == 1 else 'them'})")
        if builtin:
            why.append(f"{', '.join(builtin)} is built in and can never be bypassed")
        return tuple(outcomes), verdict("refused", "; ".join(why) + "; nothing was bypassed")
    bypassed = tuple(o.rule for o in denying)
    return (tuple(o._replace(status="bypassed") if o.denies else o for o in outcomes),
            verdict("granted", f"{show(actor.name)} bypassed {len(bypassed)} rule(s): {', '.join(bypassed)}", bypassed))


def _refusal(grant: Mapping[str, Any] | None, policy: str, actor: Actor, request: BypassRequest) -> str:
    """Why this actor's request cannot be granted under this policy at all ("" if it can)."""
    if grant is None:
        return f"policy {policy!r} lets no one bypass its rules (it has no bypass section)"
    if actor.name not in grant["actors"]:  # exactly as listed: no case folding, no look-alikes
        return f"{show(actor.name)} may not bypass rules of policy {policy!r} (bypass.actors does not list them)"
    if request.problem:
        return request.problem
    if len(request.reason) > MAX_REASON:
        return f"the reason is {len(request.reason):,} characters long: the limit is {MAX_REASON:,}"
    if grant.get("reason", "required") == "required" and not request.reason.strip():
        return f"the policy requires a reason: {ASK}"
    return ""

"""The pre-receive hook at run time: stdin lines in, verdict on the pusher's terminal.

Fast path by design (every push pays for it): imports only the standard library
pieces it needs and the compiled policy from the cache; a pusher never sees a
traceback, and any failure rejects the push (fail closed) and is recorded.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG = os.path.join("changegate", "hook.json")
AUDIT = os.path.join("changegate", "audit.jsonl")
CACHE = os.path.join("changegate", "cache")
# Seconds the hook may take; GitHub Enterprise Server gives all pre-receive hooks 5 s together.
DEFAULT_TIME_BUDGET = 4.0


class OverBudget(BaseException):
    """The hook's time budget ran out. Raised by SIGALRM wherever Python is (a regex, poll(),
    waitpid()); a BaseException, so the per-rule `except Exception` cannot swallow it."""


# Seconds after the budget within which the interrupted hook must have stopped; past it, a hard
# stop. Python drops an exception raised while it runs a __del__ method or a gc callback, so the
# budget's interruption can be swallowed; the hard stop bounds the hook whatever happens.
GRACE = 1.0
_timer = "off"  # "armed": the budget runs; "fired": interrupted, the grace runs; "off": stopped


def main() -> int:
    git_dir = os.path.abspath(os.environ.get("GIT_DIR", "."))
    try:
        try:
            return _run(git_dir)
        finally:
            _disarm()
            from engine.git import reap_children

            reap_children()
    except KeyboardInterrupt:
        return 130
    except OverBudget as exc:
        return _over_budget(git_dir, exc, None)
    except BaseException as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        return _internal_error(git_dir, exc)


def _run(git_dir: str) -> int:
    import time

    started = time.monotonic()
    from engine.policy import PolicyError

    config = _config(git_dir)
    budget = float(config.get("time_budget", DEFAULT_TIME_BUDGET))
    _arm(budget, started, git_dir)
    from engine import audit
    from engine.change import Change, Inputs, parse_update_lines
    from engine.decision import EXIT_INTERNAL, EXIT_INVALID
    from engine.facts.gitfacts import GitFacts
    from engine.git import Git
    from engine.judge import judge
    from engine.policy.cache import compiled
    from engine.policy.source import resolve
    from engine.report import render
    from engine.servers import ServerError, detect_actor

    updates = parse_update_lines(sys.stdin.buffer.read())
    try:
        actor = detect_actor(os.environ, pinned=config.get("server"))
    except ServerError as exc:  # doubt denies: recorded, then announced
        _disarm()
        return _record_then_say(git_dir, _error_entry("unknown-pusher", str(exc), None, EXIT_INVALID),
                                f"changegate: push rejected: {exc}\n", EXIT_INVALID)
    git = Git(git_dir)
    try:
        try:
            source = resolve(git, file=config.get("policy_file"), ref_spec=config.get("policy_ref"))
            policy = compiled(source, os.path.join(git_dir, CACHE))
        except PolicyError as exc:
            _disarm()
            first = exc.problems[0] if exc.problems else "unknown problem"
            return _record_then_say(git_dir, _error_entry("invalid-policy", str(exc), actor._asdict(), EXIT_INVALID),
                                    f"changegate: push rejected: the policy is invalid: {first}\n"
                                    "changegate: an administrator must fix it (policy validate FILE)\n", EXIT_INVALID)
        bypass = None
        if "GIT_PUSH_OPTION_COUNT" in os.environ:  # receive-pack sets it only when the pusher gave -o
            from engine.bypass import from_push_options

            bypass = from_push_options(os.environ)
        inputs = Inputs(now=time.time(), environ=os.environ, bypass=bypass)  # the hook's own environment
        decision = judge(policy, GitFacts(git, Change(updates, actor, "push"), inputs=inputs, policy=policy,
                                          source=source))
        _disarm()
    except OverBudget as exc:
        return _over_budget(git_dir, exc, actor._asdict())
    entry = audit.record(decision, exit_code=decision.exit_code, policy_source=source.name)
    if not _record(git_dir, entry):
        return EXIT_INTERNAL
    if any(o.notice for o in decision.outcomes):  # recorded first; then only in the budget's rest
        from engine.report.sinks import deliver

        decision = deliver(decision, deadline=started + budget)
    _say(render("text", decision))
    return decision.exit_code


def _arm(budget: float, started: float, git_dir: str) -> None:
    """Start the one-shot timer for what is left of `budget` (seconds since `started`)."""
    import time

    if TYPE_CHECKING:
        import signal
    else:
        import _signal as signal  # signal's own module imports enum: ~3 ms of every push

    if not budget > 0:
        raise ValueError(f"time_budget in {CONFIG} must be a positive number of seconds, not {budget!r}")

    def expired(signum: int, frame: object) -> None:
        global _timer
        if _timer == "armed":
            _timer = "fired"
            signal.setitimer(signal.ITIMER_REAL, GRACE)
            raise OverBudget(budget)
        if _timer == "fired":  # the interruption was swallowed, or stopping hangs
            _hard_stop(git_dir, budget)

    global _timer
    signal.signal(signal.SIGALRM, expired)
    _timer = "armed"
    signal.setitimer(signal.ITIMER_REAL, max(budget - (time.monotonic() - started), 1e-3))


def _disarm() -> None:
    """Stop the timer before the verdict is recorded and shown: both must happen whole."""
    global _timer
    if _timer != "off":
        if TYPE_CHECKING:
            import signal
        else:
            import _signal as signal

        _timer = "off"
        signal.setitimer(signal.ITIMER_REAL, 0)


def _hard_stop(git_dir: str, budget: float) -> None:
    """End the process now: kill every git child, record, say why in one line, exit denied."""
    from engine.decision import EXIT_DENIED
    from engine.git import reap_children

    reap_children()
    entry = _error_entry("time-budget", f"the check took longer than {budget:g} s and did not stop within "
                                        f"{GRACE:g} s more: stopped hard", None, EXIT_DENIED)
    _record_then_say(git_dir, entry, f"changegate: push rejected: checking it took longer than the time budget "
                                     f"of {budget:g} s; an administrator can raise it (policy hook install "
                                     "--time-budget SECONDS)\n", EXIT_DENIED)
    os._exit(EXIT_DENIED)


def _config(git_dir: str) -> dict[str, Any]:
    from engine.quickjson import loads

    with open(os.path.join(git_dir, CONFIG), "rb") as f:
        config: dict[str, Any] = loads(f.read())
    return config


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _record_then_say(git_dir: str, entry: dict[str, Any], text: str, code: int) -> int:
    """Record the decision, then show it: a verdict that cannot be recorded is never announced,
    and the push is rejected with one line instead."""
    from engine.decision import EXIT_INTERNAL

    if not _record(git_dir, entry):
        return EXIT_INTERNAL
    _say(text)
    return code


def _record(git_dir: str, entry: dict[str, Any]) -> bool:
    """Append to the audit log; if that fails, reject the push in one line and return False."""
    from engine import audit

    try:
        audit.append(os.path.join(git_dir, AUDIT), entry)
    except OSError as exc:
        _say(f"changegate: push rejected: the decision could not be recorded in the audit log "
             f"({exc.strerror or exc}); an administrator must make {AUDIT} in the repository writable\n")
        return False
    return True


def _over_budget(git_dir: str, exc: OverBudget, actor: dict[str, str] | None) -> int:
    """Reject in one line naming the budget; record where the time ran out, for the administrator."""
    import traceback

    from engine.decision import EXIT_DENIED

    _disarm()  # the grace timer must not cut the recording short
    budget = exc.args[0]
    where = "".join(traceback.format_tb(exc.__traceback__, limit=-4))
    return _record_then_say(
        git_dir, _error_entry("time-budget", f"the check took longer than {budget:g} s; it was at:\n{where}",
                              actor, EXIT_DENIED),
        f"changegate: push rejected: checking it took longer than the time budget of {budget:g} s; "
        "an administrator can raise it (policy hook install --time-budget SECONDS)\n", EXIT_DENIED)


def _internal_error(git_dir: str, exc: BaseException) -> int:
    from engine.decision import EXIT_INTERNAL

    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
    try:
        import traceback

        from engine import audit

        audit.append(os.path.join(git_dir, AUDIT),
                     _error_entry("internal-error", traceback.format_exc(), None, EXIT_INTERNAL))
        where = "the administrator can find it in the audit log"
    except BaseException:  # noqa: BLE001 - recording must not turn a rejection into a traceback
        where = "it could not be recorded in the audit log either"
    _say(f"changegate: push rejected: internal error ({reason}); {where}\n")
    return EXIT_INTERNAL


def _error_entry(kind: str, detail: str, actor: dict[str, str] | None, code: int) -> dict[str, Any]:
    import time

    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "error": kind,
            "detail": detail, "actor": actor, "allowed": False, "exit_code": code}

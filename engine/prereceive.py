"""The pre-receive hook at run time: stdin lines in, verdict on the pusher's terminal.

Fast path by design (every push pays for it): imports only the standard library
pieces it needs and the compiled policy from the cache; a pusher never sees a
traceback, and any failure rejects the push (fail closed) and is recorded.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG = os.path.join("changegate", "hook.json")
AUDIT = os.path.join("changegate", "audit.jsonl")
CACHE = os.path.join("changegate", "cache")


def main() -> int:
    git_dir = os.path.abspath(os.environ.get("GIT_DIR", "."))
    try:
        return _run(git_dir)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        return _internal_error(git_dir, exc)


def _run(git_dir: str) -> int:
    from engine import audit
    from engine.change import Change, parse_update_lines
    from engine.decision import EXIT_INVALID
    from engine.evaluate import evaluate
    from engine.facts.gitfacts import Facts
    from engine.git import Git
    from engine.policy import PolicyError
    from engine.policy.cache import compiled
    from engine.policy.source import resolve
    from engine.report.text import render
    from engine.servers import ServerError, detect_actor

    config = _config(git_dir)
    updates = parse_update_lines(sys.stdin.buffer.read())
    try:
        actor = detect_actor(os.environ, pinned=config.get("server"))
    except ServerError as exc:  # doubt denies: recorded, then announced
        _audit_error(git_dir, "unknown-pusher", str(exc), None, EXIT_INVALID)
        _say(f"changegate: push rejected: {exc}\n")
        return EXIT_INVALID
    git = Git(git_dir)
    try:
        source = resolve(git, file=config.get("policy_file"), ref_spec=config.get("policy_ref"))
        policy = compiled(source, os.path.join(git_dir, CACHE))
    except PolicyError as exc:
        first = exc.problems[0] if exc.problems else "unknown problem"
        _say(f"changegate: push rejected: the policy is invalid: {first}\n"
             "changegate: an administrator must fix it (policy validate FILE)\n")
        _audit_error(git_dir, "invalid-policy", str(exc), actor._asdict(), EXIT_INVALID)
        return EXIT_INVALID
    decision = evaluate(policy, Facts(git, Change(updates, actor, "push"), policy=policy, source=source))
    _say(render(decision))
    audit.append(os.path.join(git_dir, AUDIT),
                 audit.record(decision, exit_code=decision.exit_code, policy_source=source.name))
    return decision.exit_code


def _config(git_dir: str) -> dict[str, Any]:
    with open(os.path.join(git_dir, CONFIG), encoding="utf-8") as f:
        config: dict[str, Any] = json.load(f)
    return config


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _internal_error(git_dir: str, exc: BaseException) -> int:
    from engine.decision import EXIT_INTERNAL

    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
    _say(f"changegate: push rejected: internal error ({reason}); the administrator can find it in the audit log\n")
    try:
        import traceback

        _audit_error(git_dir, "internal-error", traceback.format_exc(), None, EXIT_INTERNAL)
    except BaseException:  # noqa: BLE001 - recording must not turn a rejection into a traceback
        pass
    return EXIT_INTERNAL


def _audit_error(git_dir: str, kind: str, detail: str, actor: dict[str, str] | None, code: int) -> None:
    import time

    from engine import audit

    audit.append(os.path.join(git_dir, AUDIT), {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "error": kind,
        "detail": detail, "actor": actor, "allowed": False, "exit_code": code,
    })

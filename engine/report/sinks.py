"""What happens to a Decision once it stands: it is recorded, then the notices its rules asked
for are delivered. Nothing here runs while rules are judged (engine.judge has no side effects).

Order, for every entry point: judge, record (the audit log, when there is one), deliver
notices, then show the verdict. A notification is thus never sent for a verdict that could
not be recorded, and a slow webhook can neither change nor hold up the judgement.

Delivering a notice is a webhook POST of its JSON payload, with a 2 s timeout; whatever
happens (answered, refused, unreachable, no time left) is appended to its outcome's message,
so reporters show it where the rule's verdict is: "...; notified https://hooks.example".
Only the scheme and host are ever shown: webhook URLs often carry a secret in their path.

In the push hook the verdict is already recorded when notices go out, so the audit log has
the verdict without the delivery result; and delivery gets only what is left of the hook's
time budget (`deadline`). Each POST runs in its own daemon thread that is waited for until
the deadline and then abandoned (the hook exits right after): a DNS lookup or a server that
answers a byte at a time cannot delay a rejection past the budget, which urllib's socket
timeout alone would not guarantee.
"""

from __future__ import annotations

from engine.decision import Decision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.decision import Notice

WEBHOOK_TIMEOUT = 2.0  # seconds for one POST, when no deadline is nearer


def record(path: str, decision: Decision, *, policy_source: str) -> None:
    """Append the decision to the audit log at `path`; OSError when it cannot be written."""
    from engine import audit

    audit.append(path, audit.record(decision, exit_code=decision.exit_code, policy_source=policy_source))


def deliver(decision: Decision, *, deadline: float | None = None) -> Decision:
    """Send every notice of the decision; the same decision with each delivery's result appended
    to its outcome's message. `deadline` (time.monotonic()) bounds the whole delivery."""
    notices = [(index, o.notice) for index, o in enumerate(decision.outcomes) if o.notice is not None]
    if not notices:
        return decision
    results = _send([n for _, n in notices], deadline)
    outcomes = list(decision.outcomes)
    for (index, _), result in zip(notices, results, strict=True):
        outcomes[index] = outcomes[index]._replace(message=f"{outcomes[index].message}; {result}")
    return decision._replace(outcomes=tuple(outcomes))


def _send(notices: list[Notice], deadline: float | None) -> list[str]:
    """Post all notices at once, each in a daemon thread; wait for them until the deadline."""
    import threading
    import time

    results: list[str | None] = [None] * len(notices)
    threads = []
    for index, notice in enumerate(notices):
        left = WEBHOOK_TIMEOUT if deadline is None else min(WEBHOOK_TIMEOUT, deadline - time.monotonic())
        if left <= 0:
            results[index] = f"{_where(notice.url)} not notified: the time budget was used up"
            continue

        def post(index: int = index, notice: Notice = notice, timeout: float = left) -> None:
            try:
                results[index] = post_webhook(notice.url, notice.payload, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - a thread's traceback would reach the pusher's terminal
                results[index] = f"notifying {_where(notice.url)} failed: {type(exc).__name__}: {exc}"

        thread = threading.Thread(target=post, name="changegate-notice", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had: say so, the verdict stands
            results[index] = f"notifying {_where(notice.url)} failed: {exc}"
            continue
        threads.append((index, notice, thread))
    for index, notice, thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if thread.is_alive():  # still waiting: left behind, and said so
            results[index] = f"notifying {_where(notice.url)} failed: no answer within the time budget"
    return [r or "" for r in results]


def post_webhook(url: str, message: dict[str, Any], *, timeout: float = WEBHOOK_TIMEOUT) -> str:
    """POST one JSON message; returns what happened, for the outcome (never raises)."""
    import http.client
    import json
    import urllib.error
    import urllib.request

    where = _where(url)
    data = json.dumps(message, sort_keys=True).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "changegate-approvals"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"notifying {where} failed: it answered {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # HTTPException: a malformed answer
        reason = getattr(exc, "reason", exc)
        return f"notifying {where} failed: {reason}"
    return f"notified {where}" if status < 300 else f"notifying {where} failed: it answered {status}"


def _where(url: str) -> str:
    """scheme://host of a webhook URL: the path may hold a secret."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "the webhook"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # never user:password@

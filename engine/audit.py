"""Append-only decision records (JSON lines) in the repository's git dir.

Each record is written with one `write()` under an exclusive `flock`, so
concurrent pushes neither interleave nor lose records.
"""

from __future__ import annotations

import fcntl
import os
import time

from engine.decision import Decision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def record(decision: Decision, *, exit_code: int, policy_source: str) -> dict[str, Any]:
    """The audit entry of a decision: its updates and outcomes as in the json format."""
    from engine.report.json_report import bypass_dict, outcome_dict, update_dict

    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "actor": decision.actor._asdict(),
        "stage": decision.stage,
        "updates": [update_dict(u) for u in decision.updates],
        "outcomes": [outcome_dict(o) for o in decision.outcomes],
        "allowed": decision.allowed,
        "exit_code": exit_code,
        "policy": {"name": decision.policy, "digest": decision.policy_digest, "source": policy_source},
        "bypass": bypass_dict(decision.bypass),  # who asked to bypass which rules, why, and the answer
    }


def append(path: str, entry: dict[str, Any]) -> None:
    from engine.quickjson import dumps

    line = (dumps(entry, sort_keys=True) + "\n").encode("ascii")  # json.dumps's text, without importing json
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # closing releases the lock


def read(path: str) -> list[dict[str, Any]]:
    import json

    with open(path, encoding="ascii") as f:
        return [json.loads(line) for line in f if line.strip()]

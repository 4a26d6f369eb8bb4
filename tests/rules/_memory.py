"""Judging one rule of a policy against a change described as data (MemoryFacts)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from engine.change import Actor, Change, ChangedPath, Commit, Inputs, RefUpdate
from engine.decision import Outcome
from engine.facts.memory import MemoryFacts
from engine.judge import judge
from engine.policy.compile import compile_policy

OLD, NEW, TREE = "a" * 40, "b" * 40, "c" * 40
ACTOR = Actor("ann", "cli", "--actor")


def commit(*paths: str, oid: str = NEW, tree: str = TREE, parent: str = OLD) -> Commit:
    return Commit(oid, tree, (parent,), "Ann", "ann@example.com",
                  tuple(ChangedPath(p.encode(), "A") for p in paths))


def outcome(policy_yaml: str, *, stage: str = "merge", commits: Sequence[Commit] = (commit("README.md"),),
            environ: Mapping[str, str] | None = None, **facts: Any) -> Outcome:
    """The outcome of the policy's only rule for an update of refs/heads/main that brings `commits`."""
    policy = compile_policy(textwrap.dedent(policy_yaml).encode(), "policy.yml")
    update = RefUpdate(OLD, commits[-1].oid if commits else NEW, b"refs/heads/main")
    change = Change((update,), ACTOR, stage)  # type: ignore[arg-type]
    old_tip = Commit(OLD, "d" * 40, (), "Ann", "ann@example.com", ())
    memory = MemoryFacts(change, brings={update.ref: list(commits)}, known=[old_tip], policy=policy,
                         inputs=Inputs(now=1_750_000_000.0, environ=environ), **facts)
    [found] = [o for o in judge(policy, memory).outcomes if not o.rule.startswith("changegate-")]
    return found

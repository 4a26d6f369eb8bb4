"""The input document a Rego policy judges: the change, as the Facts interface describes it.

Built in one function, `input_document`, from the Facts interface alone, so it is the same
for a real push (GitFacts), a described change (MemoryFacts, `policy test`) and every
stage. Its JSON Schema is policies/schema/rego-input.schema.json, with an example per stage
in policies/schema/examples/; a test keeps the three in agreement.

Which commits: those the update brings to the rule, as for every rule (`refs:` changes
it; see engine/rules/base.py). Paths are text: UTF-8 names as they are, other bytes as
backslash escapes (`\\xff`), the names exactly as git stores them (no case folding or
Unicode normalisation, unlike the built-in path rules; a Rego policy that wants it must
do it). Sizes are of the blob a commit leaves at the path; null where there is none (a
deletion, a submodule) or it cannot be told.

Bounded: a change bringing more than MAX_COMMITS commits or MAX_PATH_CHANGES changed
paths is not turned into a document (InputTooLarge), and the rule fails closed saying so.

Each commit's message is included (cut at MAX_MESSAGE characters; null where the facts do
not know it). Room is left (an optional field in the schema, not produced yet) for
signatures: verifying them costs a process per commit, and `require: {signed_commits}`
judges them.
"""

from __future__ import annotations

from engine.change import show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from engine.change import Commit, RefUpdate
    from engine.decision import Outcome
    from engine.facts.interface import Facts
    from engine.policy.patterns import Matcher

INPUT_VERSION = 1
MAX_COMMITS = 10_000  # commits in one input document
MAX_PATH_CHANGES = 100_000  # (commit, path) changes in one input document
MAX_MESSAGE = 16_384  # characters of a commit message in the document (the rest is cut)

_HAS_BLOB = frozenset("AMT")  # statuses after which the path holds a blob (D removes it)
_SUBMODULE = "160000"
# Kinds whose outcomes are summarised under their own key, besides `outcomes`.
SUMMARIES = {"require.approvals": "approvals", "require.evidence": "evidence"}


class InputTooLarge(Exception):
    """The change is too large for an input document; the message names the limit."""


def input_document(facts: Facts, updates: Sequence[RefUpdate] | None = None, *, refs: Matcher | None = None,
                   earlier: Sequence[tuple[str, Outcome]] = ()) -> dict[str, Any]:
    """The input document for `updates` (default: every update of the change) as judged by a
    rule with `refs` (None: no `refs:`), with `earlier`, the (kind, outcome) of each rule
    judged before (approvals, evidence and any other)."""
    import time

    chosen = list(facts.updates if updates is None else updates)
    commits: dict[str, dict[str, Any]] = {}
    brought: dict[str, list[str]] = {}
    changes = 0
    for update in chosen:
        listed = [] if update.kind == "deletion" else facts.commits_for(update, refs)
        name = text(update.ref)
        brought[name] = [c.oid for c in listed]
        for commit in listed:
            entry = commits.get(commit.oid)
            if entry is None:
                if len(commits) >= MAX_COMMITS:
                    raise InputTooLarge(f"the change brings more than {MAX_COMMITS:,} commits, the limit of a Rego "
                                        "input document")
                changes += len(commit.paths)
                if changes > MAX_PATH_CHANGES:
                    raise InputTooLarge(f"the change's commits change more than {MAX_PATH_CHANGES:,} paths, the "
                                        "limit of a Rego input document")
                entry = commits[commit.oid] = _commit(commit)
            if name not in entry["refs"]:
                entry["refs"].append(name)
    details = facts.commit_details(list(commits)) if commits else {}
    for oid, entry in commits.items():
        message = details[oid].message if oid in details else None
        entry["message"] = None if message is None else message[:MAX_MESSAGE]
    sizes = facts.blob_sizes(list(dict.fromkeys(
        p["oid"] for c in commits.values() for p in c["paths"] if p.pop("_blob"))))
    paths: dict[str, dict[str, Any]] = {}
    for commit_entry in commits.values():
        for p in commit_entry["paths"]:
            p["size"] = sizes.get(p["oid"]) if p["size"] is _UNKNOWN else None
            summary = paths.setdefault(p["path"], {"path": p["path"], "commits": []})
            summary.update(status=p["status"], oid=p["oid"], size=p["size"])  # the last commit's
            summary["commits"].append(commit_entry["oid"])
    return {
        "version": INPUT_VERSION,
        "stage": facts.stage,
        "time": {"unix": facts.now, "rfc3339": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.now))},
        "actor": {"name": facts.actor.name, "source": facts.actor.source},
        "server": facts.actor.server,
        "policy": _policy(facts),
        "updates": [_update(facts, u, brought.get(text(u.ref), [])) for u in chosen],
        "commits": list(commits.values()),
        "paths": sorted(paths.values(), key=lambda p: str(p["path"])),
        "outcomes": [_outcome(kind, o) for kind, o in earlier],
        **{key: [_outcome(kind, o) for kind, o in earlier if kind == summarised]
           for summarised, key in SUMMARIES.items()},
    }


_UNKNOWN: Any = object()  # a path whose blob size is still to be asked


def text(raw: bytes) -> str:
    """A ref or path as JSON text: UTF-8 as it is, other bytes as backslash escapes."""
    return raw.decode("utf-8", "backslashreplace")


def _commit(commit: Commit) -> dict[str, Any]:
    return {
        "oid": commit.oid,
        "tree": commit.tree,
        "parents": list(commit.parents),
        "author": {"name": commit.author_name, "email": commit.author_email},
        "committer": {"name": commit.committer_name, "email": commit.committer_email},
        "refs": [],
        "paths": [{
            "path": text(p.path), "status": p.status, "oid": p.oid, "mode": p.mode,
            "size": _UNKNOWN if _holds_blob(p.status, p.oid, p.mode) else None,
            "_blob": _holds_blob(p.status, p.oid, p.mode),
        } for p in commit.paths],
    }


def _holds_blob(status: str, oid: str, mode: str) -> bool:
    return status in _HAS_BLOB and bool(oid) and oid.strip("0") != "" and mode != _SUBMODULE


def _update(facts: Facts, update: RefUpdate, commits: list[str]) -> dict[str, Any]:
    return {
        "ref": text(update.ref),
        "old": update.old,
        "new": update.new,
        "kind": update.kind,
        # only an update of an existing ref to another object can be one; null otherwise
        "fast_forward": facts.is_fast_forward(update) if update.kind == "update" else None,
        "commits": commits,
    }


def _policy(facts: Facts) -> dict[str, Any]:
    policy = facts.policy or {}
    source = facts.source
    return {"name": policy.get("name", ""), "digest": policy.get("digest", ""),
            "source": source.name if source is not None else ""}


def _outcome(kind: str, outcome: Outcome) -> dict[str, Any]:
    return {"rule": outcome.rule, "kind": kind, "status": outcome.status, "message": show(outcome.message),
            "seen": [show(s) for s in outcome.seen], "enforcement": outcome.enforcement,
            "paths": list(outcome.paths)}

"""`deny_paths: [...]`: no new commit may add or change a matching path.

Checked per commit, so a file added and removed within one push is still caught.
Deleting a matching path is allowed: it removes the problem rather than adding one.
"""

from __future__ import annotations

from engine.change import RefUpdate, show
from engine.decision import Outcome
from engine.policy.patterns import normalize_path
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple


class DenyPathsParams(NamedTuple):
    patterns: tuple[str, ...]

_VERB = {"A": "adds", "M": "modifies", "T": "changes the type of"}


class DenyPaths(Rule):
    kind = "deny_paths"
    Params = DenyPathsParams
    params: DenyPathsParams
    pattern_fields = ("",)
    reads_paths = True

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        matcher = self.patterns[""]
        seen: list[str] = []
        denied: list[str] = []
        patterns: dict[str, None] = {}
        checked = normalized = 0
        for u in updates:
            changes = facts.changes_for(u, self.refs)
            checked += len(changes)
            for path, verdict in matcher.select(changes).items():
                occurrences = changes[path]
                adding = [(c, status) for c, status in occurrences if status in _VERB]
                if not adding:
                    continue
                pattern = verdict.pattern
                patterns[pattern] = None
                denied.append(path.decode("utf-8", "backslashreplace"))
                how = ""
                if verdict.normalized:
                    normalized += 1
                    how = (f" (matches {pattern} after case/Unicode normalisation, "
                           f"as {show(normalize_path(path))})")
                seen += [f"{'tree' if c.oid == c.tree else 'commit'} {short(c.oid)} on {u.name} {_VERB[status]} "
                         f"{show(path)}{how}" for c, status in adding]
        if not seen:
            return self.outcome("pass", f"no denied path among {checked} changed path(s)")
        note = (f"; {normalized} matched only after case/Unicode normalisation "
                "(the rule's path_matching: exact would compare bytes)") if normalized else ""
        return self.outcome(
            "fail", f"{len(seen)} denied path change(s) in new commits{note}", seen=seen, paths=denied,
            required="no new commit adds or changes a path matching " + ", ".join(patterns),
            fix="remove the files from every new commit (git rebase -i, or git filter-repo "
                "--invert-paths --path PATH) and push again")

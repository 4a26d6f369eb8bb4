"""`max_path_length: {limit: N, component: M}`: no new commit adds a path longer than N bytes
(the whole path, counted in bytes as git stores it), nor, with `component`, one whose
directory or file name is longer than M bytes.

Long paths break checkouts: Windows refuses paths past 260 characters unless long paths are
enabled, and most filesystems refuse a name past 255 bytes. Only added paths are judged
(a rename adds its new name); paths that already exist may still change or be deleted.
"""

from __future__ import annotations

from engine.change import RefUpdate, show
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple


class MaxPathLengthParams(NamedTuple):
    limit: int
    component: int | None = None  # None: names are only limited by the whole path's limit


class MaxPathLength(Rule):
    kind = "max_path_length"
    Params = MaxPathLengthParams
    params: MaxPathLengthParams
    reads_paths = True

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        limit, component = self.params.limit, self.params.component
        seen: list[str] = []
        denied: list[str] = []
        checked = 0
        for u in updates:
            for path, occurrences in facts.changes_for(u, self.refs).items():
                adding = [c for c, status in occurrences if status == "A"]
                if not adding:
                    continue
                checked += 1
                why = self._too_long(path, limit, component)
                if not why:
                    continue
                denied.append(path.decode("utf-8", "backslashreplace"))
                seen += [f"{'tree' if c.oid == c.tree else 'commit'} {short(c.oid)} on {u.name} adds {show(path)}: "
                         f"{why}" for c in adding]
        required = f"no new path longer than {limit} bytes"
        if component is not None:
            required += f", no directory or file name in it longer than {component} bytes"
        if not seen:
            return self.outcome("pass", f"{required} among {checked} added path(s)")
        return self.outcome(
            "fail", f"{len(seen)} added path(s) too long in new commits", seen=seen, paths=denied,
            required=required + " (counted in bytes as git stores them: a non-ASCII character takes 2 to 4)",
            fix="give the files shorter names or a shallower directory (git mv) in every new commit "
                "(git rebase -i) and push again")

    @staticmethod
    def _too_long(path: bytes, limit: int, component: int | None) -> str:
        """Why `path` is too long, or "" if it is not."""
        if len(path) > limit:
            return f"{len(path)} bytes, over {limit}"
        if component is not None:
            name = max(path.split(b"/"), key=len)
            if len(name) > component:
                return f"the name {show(name)} is {len(name)} bytes, over {component}"
        return ""

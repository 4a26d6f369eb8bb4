"""Policy files: load (with positions), validate, compile, cache.

Kept import-free: the hook imports submodules it needs, nothing more.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing


class Problem(NamedTuple):
    """One thing wrong with a policy, located in its file."""

    source: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}" if self.line else self.source
        return f"{where}: {self.message}"


MAX_PROBLEMS = 100  # listed for one policy (a hostile file can have 50,000, each costing time to find)


class PolicyError(Exception):
    """The policy cannot be used; the problems found are listed in file order (the first 100)."""

    def __init__(self, problems: list[Problem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.line, p.column))
        self.problems = ordered[:MAX_PROBLEMS]
        lines = [str(p) for p in self.problems]
        if len(ordered) > MAX_PROBLEMS:
            lines.append(f"... and more problems: only the first {MAX_PROBLEMS} found are listed")
        super().__init__("\n".join(lines))

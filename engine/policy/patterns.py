"""Path and ref patterns: gitignore semantics, compiled once, matched cheaply.

The semantics come from `pathspec` (git's own wildmatch rules). pathspec costs ~10 ms
to import, so it runs only when a policy is compiled; the compiled policy keeps the
regular expressions it produced, and the hook matches them with `re` alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Compiled = list[tuple[str, bool]]  # (regex, include) in policy order; "!" patterns exclude


class PatternError(ValueError):
    """A pattern that git would not match as written."""


def compile_patterns(patterns: Sequence[str]) -> Compiled:
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    compiled: Compiled = []
    for pattern in patterns:
        try:
            regex, include = GitIgnoreSpecPattern.pattern_to_regex(pattern)
        except Exception as exc:  # pathspec raises its own error types per problem
            raise PatternError(f"{pattern!r} is not a valid pattern: {exc}") from exc
        if regex is None or include is None:
            raise PatternError(
                f"{pattern!r} can never match (empty, a comment, or an unclosed '[')")
        compiled.append((regex, bool(include)))
    return compiled


class Matcher:
    """Matches a path (or ref name) like git matches .gitignore: the last matching pattern wins."""

    __slots__ = ("_rules", "patterns")

    def __init__(self, compiled: Compiled, patterns: Sequence[str]) -> None:
        self._rules = [(re.compile(regex), include) for regex, include in compiled]
        self.patterns = tuple(patterns)

    def match(self, text: str) -> bool:
        matched = False
        for regex, include in self._rules:
            if include != matched and regex.match(text):
                matched = include
        return matched

    def first_pattern(self, text: str) -> str:
        """The pattern that decided a match, for explanations."""
        decided = ""
        for (regex, include), pattern in zip(self._rules, self.patterns, strict=True):
            if regex.match(text):
                decided = pattern if include else ""
        return decided

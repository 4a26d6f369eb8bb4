"""Regular expressions a policy writes (commit message and e-mail patterns), with RE2 semantics.

RE2 matches in time linear in the text whatever the pattern, so a policy regex cannot hang
the hook (`(a+)+$` is as fast as `a`); the price is that backreferences and lookaround do not
exist, and a policy using them is rejected when it loads, with file:line and RE2's own words.
`re2` (google-re2) is imported only when a pattern is compiled (~3 ms).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LENGTH = 1000  # characters; the schema says so too
MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern


class RegexError(ValueError):
    """A pattern RE2 cannot compile: the message says why, in RE2's words."""


def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern (its `search` finds a match anywhere), or RegexError."""
    import re2

    if len(pattern) > MAX_LENGTH:
        raise RegexError(f"the pattern is {len(pattern):,} characters long: the limit is {MAX_LENGTH:,}")
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "it does not compile"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(f"{pattern!r} is not an RE2 regular expression ({reason}; RE2 has no backreferences "
                         "or lookaround, see https://github.com/google/re2/wiki/Syntax)") from None

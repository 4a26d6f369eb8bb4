"""How large a policy may be: every input is judged within bounded time and memory.

Anyone who can land a policy in the protected ref could otherwise hang every later
push (a YAML alias bomb, 80 KB of nested brackets, 60,000 rules). The values leave a
large organisation's pack ample room (hundreds of rules, thousands of patterns) while
keeping `policy validate` of any accepted input well under 2 s on a 2-core server.
The JSON Schema states the same numbers where it can (maxItems, maxLength), so editors
show them; tests/security/test_policy_limits.py keeps the two in step.
"""

from __future__ import annotations

MAX_BYTES = 1 << 20  # the policy file, checked before parsing (1 MiB)
MAX_DEPTH = 32  # nested lists/mappings; a real policy needs about 8
MAX_NODES = 50_000  # values in the document, every alias counted as the nodes it repeats
MAX_ALIASES = 1_000  # uses of *anchor
MAX_STRING = 8_192  # characters in one scalar (a key or a value)
MAX_RULES = 1_000
MAX_PATTERNS_PER_LIST = 1_000  # entries of one refs / when.paths / deny_paths / evidence paths list
MAX_PATTERNS = 10_000  # pattern entries in the whole policy
MAX_PATTERN_LENGTH = 1_024  # characters in one pattern

"""Compiled policies cached by version identity: validate once per policy version.

The cache lives in the server repository's git dir (administrator-owned). The key is
the policy's git blob id or its file's stat identity, so a hit needs no hashing (and
no `hashlib` import on the push path); the content digest recorded in audits is
computed once, at compile time. A miss compiles the policy fully (YAML, JSON Schema,
patterns) and writes the result atomically, so concurrent pushes never read a
half-written file.
"""

from __future__ import annotations

import json
import os
import zlib

from engine import __version__
from engine.policy.source import PolicySource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Bump when the compiled layout changes, so stale caches are never read.
COMPILED_FORMAT = 2


def compiled(source: PolicySource, cache_dir: str | None) -> dict[str, Any]:
    """The compiled policy for `source`, from the cache when it has it."""
    tag = f"{__version__}-{COMPILED_FORMAT}-{source.identity}"
    path = os.path.join(cache_dir, f"{zlib.crc32(tag.encode()):08x}-{len(tag)}.json") if cache_dir else None
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                hit: dict[str, Any] = json.load(f)
            if hit.get("cache_tag") == tag:
                return hit
        except (OSError, ValueError):
            pass
    from engine.policy.compile import compile_policy

    result = compile_policy(source.data, source.name)
    result["cache_tag"] = tag
    if path and cache_dir:
        _write_atomically(cache_dir, path, json.dumps(result))
    return result


def _write_atomically(directory: str, path: str, text: str) -> None:
    import tempfile

    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs time

"""Compiled policies cached by content digest: validate once per policy version.

The cache lives in the server repository's git dir (administrator-owned). A miss
compiles the policy fully (YAML, JSON Schema, patterns) and writes the result
atomically, so concurrent pushes never read a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from engine import __version__


def compiled(data: bytes, source: str, cache_dir: str | None) -> dict[str, Any]:
    """The compiled policy for `data`, from the cache when it has it."""
    from engine.policy.compile import COMPILED_FORMAT

    key = hashlib.sha256(f"{__version__}\0{COMPILED_FORMAT}\0{source}\0".encode() + data).hexdigest()
    path = os.path.join(cache_dir, f"{key}.json") if cache_dir else None
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                hit: dict[str, Any] = json.load(f)
            return hit
        except (OSError, ValueError):
            pass
    from engine.policy.compile import compile_policy

    result = compile_policy(data, source)
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

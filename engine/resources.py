"""Files shipped with the package: policy packs, the schema, hook entry points.

They live in the repository's `policies/` and `hooks/`; `engine/data/` links to them
and a wheel carries them as package data. Found relative to this file, never via
sys.prefix: the hook runs with -S, where sys.prefix is not the virtualenv's.
"""

from __future__ import annotations

import os


def resource(*parts: str) -> str:
    candidate = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", *parts)
    if not os.path.exists(candidate):
        raise FileNotFoundError(f"{os.path.join(*parts)} is not installed with changegate; reinstall it")
    return candidate

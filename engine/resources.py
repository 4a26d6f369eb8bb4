"""Files shipped with the package: policy packs, the schema, hook entry points.

They live in the repository's `policies/` and `hooks/`; `engine/data/` links to them
and a wheel carries them as package data. Found relative to this file, never via
sys.prefix: the hook runs with -S, where sys.prefix is not the virtualenv's.
"""

from __future__ import annotations

import os


def package_folder(name: str) -> str | None:
    """The folder of the top-level package `name` on sys.path, found without importing it (or
    importlib, ~2 ms): what `import name` would load for a regular package; None if not found."""
    import sys

    for entry in sys.path:
        folder = os.path.join(entry or ".", name)
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return folder
    return None


def resource(*parts: str) -> str:
    candidate = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", *parts)
    if not os.path.exists(candidate):
        raise FileNotFoundError(f"{os.path.join(*parts)} is not installed with changegate; reinstall it")
    return candidate

"""Files shipped beside the package: policy packs, the schema, hook entry points.

They live in the source tree (`policies/`, `hooks/`) and are installed as data
files under `<prefix>/share/changegate/`; one lookup serves both layouts.
"""

from __future__ import annotations

import os
import sys


def resource(*parts: str) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.join(here, ".."), os.path.join(sys.prefix, "share", "changegate")):
        candidate = os.path.normpath(os.path.join(root, *parts))
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"{os.path.join(*parts)} is not installed with changegate; reinstall it")

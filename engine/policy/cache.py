"""Compiled policies cached in the repository's git dir: validate once per policy content.

An entry is used only when it is exactly what this code wrote for exactly this policy:
it is named after the policy's content, starts with a checksum of itself, holds the
policy's full text (compared byte for byte: a file edited in place with its size and
mtime restored is recompiled) and a tag naming the code that compiled it (changegate's
version, the compiled layout, the compiler's own files), and its rules must build.
Anything else in its place (a truncated or foreign file, `[]`, `null`, an entry of an
older changegate) is ignored and overwritten atomically: a broken entry costs one
recompilation, never a rejected push. A hit reads one file and compares bytes; zlib's
crc32 is the only hashing (hashlib alone costs ~3 ms to import on the push path), and JSON
goes through engine.quickjson (the json package costs ~8 ms).
"""

from __future__ import annotations

import os
import zlib

from engine import __version__
from engine.policy.source import PolicySource
from engine.quickjson import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Bump when the compiled layout changes; the compiler's files are part of the tag as well.
COMPILED_FORMAT = 3


def compiled(source: PolicySource, cache_dir: str | None) -> dict[str, Any]:
    """The compiled policy for `source`, from the cache when it holds a usable entry for it."""
    if cache_dir:
        tag = _tag()
        path = os.path.join(cache_dir, f"{zlib.crc32(source.data, zlib.crc32(tag.encode())):08x}-"
                                       f"{len(source.data)}.json")
        hit = _read(path, tag, source.data)
        if hit is not None:
            return hit
    from engine.policy.compile import compile_policy

    result = compile_policy(source.data, source.name)
    if cache_dir:
        body = dumps({"tag": tag, "policy_text": source.data.decode("utf-8"), "compiled": result}).encode()
        _write_atomically(cache_dir, path, b"%08x\n" % zlib.crc32(body) + body)
    return result


def _read(path: str, tag: str, data: bytes) -> dict[str, Any] | None:
    """The entry's compiled policy if it is whole, ours, for exactly `data`, and builds; else None."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        checksum, _, body = raw.partition(b"\n")
        if checksum != b"%08x" % zlib.crc32(body):
            return None
        entry = loads(body)
        if (not isinstance(entry, dict) or entry.get("tag") != tag
                or not isinstance(entry.get("policy_text"), str) or entry["policy_text"].encode() != data):
            return None
        policy: dict[str, Any] = entry["compiled"]
        from engine.rules import build_rules

        build_rules(policy)  # a forged or damaged entry must not crash every push: recompile instead
        return policy
    except Exception:  # noqa: BLE001 - whatever is wrong with an entry, the policy itself decides
        return None


def _tag() -> str:
    """Names the code that compiles: an entry written by any other changegate (an upgrade, a
    patched checkout that kept its version number) is never read."""
    here = os.path.dirname(os.path.abspath(__file__))
    kinds = os.path.join(os.path.dirname(here), "rules")  # rule kinds declare defaults and pattern fields
    files = [os.path.join(d, name) for d in (here, kinds) for name in os.listdir(d) if name.endswith(".py")]
    from engine.resources import resource

    stats = [os.stat(p) for p in [*sorted(files), resource("policies", "schema", "policy.schema.json")]]
    return f"{__version__}-{COMPILED_FORMAT}-" + ",".join(f"{st.st_size}:{st.st_mtime_ns}" for st in stats)


def _write_atomically(directory: str, path: str, data: bytes) -> None:
    import tempfile

    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    except OSError:
        return  # a cache we cannot write only costs time
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as exc:  # a full disk, or the hook's time budget ran out: no partial file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if not isinstance(exc, OSError):
            raise

"""Class 8 (state that can lock everyone out or go stale): the compiled-policy cache.

A broken or foreign entry is ignored and rebuilt, never fatal; a hit counts only for the
exact content of the policy, whatever its size and mtime say.
"""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server

POLICY = 'version: 1\nname: cache\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n'
EDITED = POLICY.replace("gguf", "ggml")  # the same size


def setup(tmp_path: Path) -> tuple[Server, Clone, Path]:
    """A server whose policy has been compiled once: (server, clone, the cache entry)."""
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    [entry] = (server.path / "changegate" / "cache").iterdir()
    return server, clone, entry


def _broken_rules(raw: bytes) -> bytes:
    """The same entry, still well-formed (a valid checksum, the right tag), with rules that cannot
    be built: what only a forged or mis-written entry holds."""
    checksum, newline, body = raw.partition(b"\n")
    if newline and len(checksum) == 8:
        entry = json.loads(body)
        entry["compiled"]["rules"] = [{"kind": "no-such-kind"}]
        body = json.dumps(entry).encode()
        return b"%08x\n" % zlib.crc32(body) + body
    entry = json.loads(raw)  # an entry without a checksum line, as changegate wrote them before
    entry["rules"] = [{"kind": "no-such-kind"}]
    return json.dumps(entry).encode()


@pytest.mark.parametrize("damage", ["[]", "null", "{}", "truncated", "rules that cannot be built", "empty"])
def test_a_corrupt_or_foreign_cache_entry_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    server, clone, entry = setup(tmp_path)
    good = entry.read_bytes()
    entry.write_bytes({"[]": b"[]", "null": b"null", "{}": b"{}", "truncated": good[:len(good) // 2], "empty": b"",
                       "rules that cannot be built": _broken_rules(good)}[damage])
    clone.commit("ok", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "changegate: push allowed by policy 'cache'" in result.remote
    assert entry.read_bytes() == good  # rebuilt in place
    clone.commit("weights", "m.gguf")
    assert "[DENY] no-gguf" in clone.push("HEAD:refs/heads/main").remote


def _push_ggml(clone: Clone) -> str:
    clone.commit("weights", "m.ggml")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0, f"judged by the stale policy:\n{result.out}"
    return result.remote


def test_a_policy_edited_in_place_with_size_and_mtime_restored_is_judged_by_its_new_content(tmp_path: Path) -> None:
    server, clone, _ = setup(tmp_path)
    stat = server.policy_file.stat()
    with open(server.policy_file, "r+b") as f:  # same inode, same size
        f.write(EDITED.encode())
    os.utime(server.policy_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = server.policy_file.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    assert "[DENY] no-ggml" in _push_ggml(clone)


def test_a_policy_replaced_with_cp_p_keeping_the_old_mtime_is_judged_by_its_new_content(tmp_path: Path) -> None:
    server, clone, _ = setup(tmp_path)
    replacement = tmp_path / "new-policy.yml"
    replacement.write_text(EDITED)
    subprocess.run(["touch", "-r", str(server.policy_file), str(replacement)], check=True)
    subprocess.run(["cp", "-p", str(replacement), str(server.policy_file)], check=True)
    assert server.policy_file.read_text() == EDITED
    assert "[DENY] no-ggml" in _push_ggml(clone)


"""Git's own matcher as the reference: `git check-ignore --no-index` on a pattern file."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from engine.policy.patterns import Matcher, PatternError, compile_patterns


class GitIgnore:
    """A scratch repository whose core.excludesFile holds the patterns; paths never exist on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = self.root / "repo"
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        self.excludes = self.root / "excludes"  # outside the work tree

    def verdicts(self, patterns: Sequence[bytes], paths: Sequence[bytes]) -> list[tuple[bool, int]]:
        """Per path: (ignored, 1-based line of the deciding pattern or 0), in one check-ignore call."""
        self.excludes.write_bytes(b"".join(p + b"\n" for p in patterns))
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.root), "GIT_CONFIG_GLOBAL": os.devnull}
        proc = subprocess.run(
            ["git", "-c", f"core.excludesFile={self.excludes}", "-c", "core.ignoreCase=false",
             "check-ignore", "--no-index", "--stdin", "-z", "-v", "-n"],
            cwd=self.repo, input=b"".join(p + b"\0" for p in paths), capture_output=True, env=env, check=False)
        assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
        fields = proc.stdout.split(b"\0")
        out = []
        for k, path in enumerate(paths):
            source, line, pattern, echoed = fields[4 * k:4 * k + 4]
            assert echoed == path, (echoed, path)
            out.append((bool(source) and not pattern.startswith(b"!"), int(line or 0)))
        return out


def ours(patterns: Sequence[bytes], *, normalize: bool = False) -> tuple[Matcher, set[int]]:
    """A Matcher over the patterns changegate accepts, and the 1-based lines it refuses as never matching."""
    accepted, refused = [], set()
    for line, raw in enumerate(patterns, 1):
        text = raw.decode("utf-8", "surrogateescape")
        try:
            compile_patterns([text])
        except PatternError:
            refused.add(line)
            continue
        accepted.append(text)
    return Matcher(compile_patterns(accepted, normalize=normalize), accepted), refused


def quote(path: bytes) -> bytes:
    """C-style quoting for fast-import: every byte outside printable ASCII as an octal escape."""
    out = bytearray(b'"')
    for b in path:
        if b in b'"\\':
            out += b"\\" + bytes([b])
        elif 0x20 <= b < 0x7F:
            out.append(b)
        else:
            out += b"\\%03o" % b
    return bytes(out + b'"')


def fast_import(clone: Path, commits: Sequence[tuple[bytes, Sequence[bytes]]], parent: str) -> None:
    """One commit per (ref, paths) on top of `parent`, written by a single `git fast-import`
    (hundreds of refs and arbitrary path bytes without hundreds of processes)."""
    stream = bytearray()
    for ref, paths in commits:
        stream += b"commit %s\ncommitter Ann Author <ann@example.com> 1700000000 +0000\n" % ref
        stream += b"data 4\nadd\nfrom %s\n" % parent.encode()
        for path in paths:
            stream += b"M 100644 inline %s\ndata 2\nx\n" % quote(path)
        stream += b"\n"
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=clone, input=bytes(stream), check=True,
                   capture_output=True)

"""Line breaks and control characters in any path component or ref name, through real pushes.

A path is an opaque byte string: a denied file is caught whether a C0 control (LF, CR, TAB,
ESC, ...), a C1 control or a Unicode line/paragraph separator sits in a directory at the
root, a middle directory, or at the start, middle or end of the file name; the pusher sees
it named, escaped. The same holds for `when.paths` and for ref patterns.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.change import show
from tests.helpers.repos import Clone, Server
from tests.security.patterns_support import fast_import

C0 = [chr(c) for c in [*range(1, 0x20), 0x7F]]
C1 = [chr(c) for c in range(0x80, 0xA0)]
SEPARATORS = ["\u2028", "\u2029"]
CHARS = C0 + C1 + SEPARATORS
PATTERNS = '["*.safetensors", "/top/**/secret*"]'


def positions(c: str) -> list[bytes]:
    """The character as a root directory, a middle directory, and at the start, middle and end of a file name."""
    return [p.encode() for p in (f"d{c}x/w.safetensors", f"m/d{c}x/n/w.safetensors", f"m/{c}w.safetensors",
                                 f"m/w{c}x.safetensors", f"top/a{c}/secret{c}")]


DENIED = [p for c in CHARS for p in positions(c)]


def _setup(tmp_path: Path, rules: str) -> tuple[Server, Clone, str]:
    server = Server(tmp_path, f"version: 1\nname: control-characters\nrules:\n{rules}")
    clone = Clone(tmp_path, server)
    base = clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone, base


def _outcome(server: Server, rule: str) -> dict[str, object]:
    record = json.loads(server.audit_log.read_text().splitlines()[-1])
    return next(o for o in record["outcomes"] if o["rule"] == rule)


def test_denied_files_with_control_characters_in_any_component_are_rejected_and_named(tmp_path: Path) -> None:
    server, clone, base = _setup(tmp_path, f"  - id: no-weights\n    deny_paths: {PATTERNS}\n")
    fast_import(clone.path, [(b"refs/heads/main", [*DENIED, b"m/clean.txt"])], base)
    result = clone.push("refs/heads/main:refs/heads/main")
    assert result.code != 0
    assert f"[DENY] no-weights: {len(DENIED)} denied path change(s)" in result.remote
    outcome = _outcome(server, "no-weights")
    assert sorted(outcome["paths"]) == sorted(p.decode() for p in DENIED)  # type: ignore[arg-type]
    shown = [line for line in result.remote.splitlines() if line.startswith("  seen:") and " adds " in line]
    assert shown and [line for line in shown if not any(line.endswith(" adds " + show(p)) for p in DENIED)] == []
    assert all(ch.isprintable() for line in result.remote.splitlines() for ch in line)  # escaped, never raw


def test_when_paths_apply_to_paths_with_control_characters_in_any_component(tmp_path: Path) -> None:
    server, clone, base = _setup(tmp_path, f"""\
  - id: weights-branches-frozen
    refs: ["refs/heads/w/**"]
    when: {{paths: {PATTERNS}}}
    deny: [creation]
""")
    commits = [(b"refs/heads/w/%d" % i, [path]) for i, path in enumerate(DENIED)]
    fast_import(clone.path, [*commits, (b"refs/heads/w/clean", [b"m/clean.txt"])], base)
    result = clone.push("refs/heads/w/*:refs/heads/w/*")
    assert result.code != 0
    # every branch that adds one of the paths is judged; the clean one is not
    assert f"[DENY] weights-branches-frozen: {len(DENIED)} ref update(s) not allowed" in result.remote
    assert not [line for line in result.remote.splitlines()
                if "refs/heads/w/clean" in line and not line.startswith("judged:")]


def test_ref_patterns_match_ref_names_with_c1_controls_and_unicode_separators(tmp_path: Path) -> None:
    server, clone, base = _setup(tmp_path, """\
  - id: guarded
    refs: ["refs/heads/guarded/**", "refs/tags/v*", "refs/heads/r*/x"]
    deny: [creation]
""")
    names = [n for c in C1 + SEPARATORS for n in (f"refs/heads/guarded/a{c}b", f"refs/heads/guarded/{c}/x",
                                                  f"refs/tags/v1{c}", f"refs/heads/r{c}/x")]
    for name in [*names, "refs/heads/free/a\u2028b"]:
        clone.git("update-ref", name, base)
    result = clone.push("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
    assert result.code != 0
    assert f"[DENY] guarded: {len(names)} ref update(s) not allowed" in result.remote

"""The compiled-policy cache on the push path: a hit costs one file read and a byte comparison."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.repos import Clone, Server

POLICY = 'version: 1\nname: cache\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n'
OTHER = POLICY.replace("gguf", "ggml")
HEAVY = ("hashlib", "jsonschema", "ruamel", "pathspec", "typing", "tempfile")


def _compile_in_a_fresh_process(policy: Path, cache: Path) -> list[str]:
    """The modules among HEAVY that one compiled() call imports, in a process like the hook's."""
    code = (f"import sys\nsys.path[:0] = {sys.path!r}\n"
            "from engine.policy.cache import compiled\nfrom engine.policy.source import from_file\n"
            f"compiled(from_file({str(policy)!r}), {str(cache)!r})\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_cache_hit_imports_no_yaml_schema_or_hashing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    miss = _compile_in_a_fresh_process(policy, tmp_path / "cache")
    assert {"hashlib", "jsonschema", "ruamel"} <= set(miss)  # the test can tell
    assert _compile_in_a_fresh_process(policy, tmp_path / "cache") == []


def test_each_policy_content_keeps_its_own_entry(tmp_path: Path) -> None:
    """Switching back to an earlier policy reuses its entry (entries are named after the content)."""
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    server.policy_file.write_text(OTHER)
    clone.commit("weights", "m.ggml")
    assert "[DENY] no-ggml" in clone.push("HEAD:refs/heads/main").remote
    server.policy_file.write_text(POLICY)
    clone.git("reset", "-q", "--hard", "HEAD~1")
    clone.commit("weights", "m.gguf")
    assert "[DENY] no-gguf" in clone.push("HEAD:refs/heads/main").remote
    assert len(list((server.path / "changegate" / "cache").iterdir())) == 2

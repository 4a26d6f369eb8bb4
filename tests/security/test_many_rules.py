"""Many path rules judged in one pass (MatcherGroup), through real pushes.

The rules of a policy share one RE2 pass per changed path. Each rule must still decide alone:
its own last match wins, its own negations re-include only for itself, its excluded directories
decide only its own verdicts, and a normalised-only match is still caught (and said). A rule deep
in a long list is found; a neighbour's patterns never leak into another rule's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.repos import Clone, Server
from tests.security.patterns_support import fast_import

SHAPES = ("'*.ext{i}'", "'vendor{i}/'", "'**/dir{i}/*.bin'")


def _policy(rules: int) -> str:
    body = "".join(f"  - id: r{i}\n    deny_paths: [{SHAPES[i % 3].format(i=i)}]\n" for i in range(rules))
    return ("version: 1\nname: many-rules\nrules:\n" + body
            + "  - id: bins-but-kept\n    deny_paths: ['*.bin', '!keep.bin', '!**/dir4/*.bin']\n"
            + "  - id: all-bins\n    deny_paths: ['*.bin']\n"
            + "  - id: docs-need-review\n    when: {paths: ['docs/**']}\n    deny_paths: ['*.draft']\n")


def _outcomes(server: Server) -> dict[str, dict[str, object]]:
    record = json.loads(server.audit_log.read_text().splitlines()[-1])
    return {o["rule"]: o for o in record["outcomes"]}


def test_each_of_many_rules_decides_alone_in_one_push(tmp_path: Path) -> None:
    server = Server(tmp_path, _policy(120))
    clone = Clone(tmp_path, server)
    base = clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    paths = [
        b"data/dir44/w.bin",  # r44 (**/dir44/*.bin); bins-but-kept; all-bins
        b"a/b/dir4/w.bin",  # r4 (vendor4/ is a directory rule: no); bins-but-kept re-includes it; all-bins
        b"keep.bin",  # bins-but-kept re-includes it; all-bins denies it
        b"vendor118/lib/x.py",  # r118's excluded directory decides everything below it
        b"src/VENDOR58/x.py",  # r58 only after case normalisation
        b"notes/file.ext90",  # r90
        b"docs/guide.draft",  # docs-need-review applies and denies
        b"src/file.ext91",  # no rule: r91 is vendor91/
    ]
    fast_import(clone.path, [(b"refs/heads/main", [*paths, b"clean.txt"])], base)
    result = clone.push("refs/heads/main:refs/heads/main")
    assert result.code != 0
    outcomes = _outcomes(server)
    failed = {rule: sorted(o["paths"]) for rule, o in outcomes.items() if o["status"] == "fail"}  # type: ignore[arg-type]
    assert failed == {
        "r44": ["data/dir44/w.bin"],
        "r58": ["src/VENDOR58/x.py"],
        "r90": ["notes/file.ext90"],
        "r118": ["vendor118/lib/x.py"],
        "bins-but-kept": ["data/dir44/w.bin"],
        "all-bins": ["a/b/dir4/w.bin", "data/dir44/w.bin", "keep.bin"],
        "docs-need-review": ["docs/guide.draft"],
    }
    assert "after case/Unicode normalisation" in str(outcomes["r58"]["seen"])
    assert all(outcomes[f"r{i}"]["status"] == "pass" for i in range(120) if f"r{i}" not in failed)
    assert "[DENY] r118:" in result.remote and "[DENY] all-bins:" in result.remote

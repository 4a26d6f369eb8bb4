"""A change described in YAML gets the decision the same change gets when pushed for real into a
bare repository with the hook: MemoryFacts cannot drift from GitFacts unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.repos import Clone, Server, policy_cli

POLICY = """\
version: 1
name: cross-check
rules:
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward, deletion]
  - id: main-no-notebooks
    refs: ["refs/heads/main"]
    deny_paths: ["*.ipynb"]
  - id: no-weights
    deny_paths: ["*.safetensors"]
  - id: small-files
    max_file_size: {limit: 1KiB}
"""


def pushed(server: Server, clone: Clone, *refspecs: str) -> tuple[bool, dict[str, str]]:
    """Push for real; the hook's own record of its decision: (allowed, rule -> status)."""
    result = clone.push(*refspecs)
    record = json.loads(server.audit_log.read_text().splitlines()[-1])
    assert (result.code == 0) == record["allowed"], result.out
    return record["allowed"], {o["rule"]: o["status"] for o in record["outcomes"]}


def described(tmp_path: Path, case: str) -> tuple[bool, dict[str, str]]:
    """The same change as a policy test case: (allowed, rule -> status) as `policy test` judged it."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "cross.yml").write_text(POLICY)
    tests = tmp_path / "cross.tests.yml"
    tests.write_text("version: 1\ncases:\n" + case)
    proc = policy_cli("test", str(tests), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    [result] = json.loads(proc.stdout)["cases"]
    return result["decision"] == "allow", {o["rule"]: o["status"] for o in result["outcomes"]}


def test_fast_forwarding_main_onto_a_branch_that_carries_a_notebook(tmp_path: Path) -> None:
    """The commits a `refs:` rule judges (old..new) differ from those new to the repository (none)."""
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("base", "README.md")
    assert pushed(server, clone, "HEAD:refs/heads/main")[0]
    clone.commit("notebook", "analysis.ipynb")
    assert pushed(server, clone, "HEAD:refs/heads/topic")[0]  # a notebook is fine off main
    real = pushed(server, clone, "HEAD:refs/heads/main")
    assert real == (False, {"protect-main": "pass", "main-no-notebooks": "fail", "no-weights": "pass",
                            "small-files": "pass"})
    assert described(tmp_path / "t", """\
  - name: main fast-forwards onto topic
    refs: {refs/heads/main: base, refs/heads/topic: nb}
    commits:
      - {id: base, files: {README.md: "base\\n"}}
      - {id: nb, files: {analysis.ipynb: "notebook\\n"}}
    updates: [{ref: refs/heads/main, new: nb}]
    expect: {decision: deny}
""") == real


def test_weights_added_and_removed_in_a_new_branch_and_a_forced_main(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("base", "README.md")
    assert pushed(server, clone, "HEAD:refs/heads/main")[0]
    clone.git("checkout", "-q", "--orphan", "rewrite")
    clone.git("rm", "-q", "-rf", ".")
    clone.write("m.safetensors", b"w" * 2048)
    clone.commit("weights")
    clone.git("rm", "-q", "m.safetensors")
    clone.commit("no weights", "notes.txt")
    real = pushed(server, clone, "+HEAD:refs/heads/main")
    assert real == (False, {"protect-main": "fail", "main-no-notebooks": "pass", "no-weights": "fail",
                            "small-files": "fail"})
    assert described(tmp_path / "t", """\
  - name: main is replaced by a new history that adds and removes weights
    refs: {refs/heads/main: base}
    commits:
      - {id: base, files: {README.md: "base\\n"}}
      - {id: w, parents: [], files: {m.safetensors: {size: 2048}}}
      - {id: clean, files: {m.safetensors: null, notes.txt: "no weights\\n"}}
    updates: [{ref: refs/heads/main, new: clean}]
    expect: {decision: deny}
""") == real

"""Rego rules through real pushes into a bare repository with the hook installed: a deny message
blocks with the message, a warn passes with it, a broken module fails closed saying where, and
the modules come from the protected ref's current value, never from the change."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.audit import read
from tests.helpers.repos import Clone, Server, policy_cli, protected

POLICY = "version: 1\nname: rego-push\nrules:\n  - id: rego-policy\n    rego: {modules: [rego/changegate.rego]}\n"

MODULE = """package changegate

import rego.v1

deny contains msg if {
\tsome p in input.paths
\tstartswith(p.path, "secrets/")
\tmsg := sprintf("%s: secrets never go into git (pushed by %s)", [p.path, input.actor.name])
}

warn contains {"msg": sprintf("%s is %v bytes: consider Git LFS", [p.path, p.size]), "path": p.path} if {
\tsome p in input.paths
\tis_number(p.size)
\tp.size > 4096
}
"""


def with_module(tmp_path: Path, module: str = MODULE) -> tuple[Server, Clone]:
    """A server whose policy file has the Rego module beside it (the administrator's domain)."""
    (tmp_path / "rego").mkdir(exist_ok=True)
    (tmp_path / "rego" / "changegate.rego").write_text(module)
    return protected(tmp_path, POLICY)


def test_deny_message_blocks_the_push_and_is_shown(tmp_path: Path) -> None:
    server, clone = with_module(tmp_path)
    clone.commit("add a key", "secrets/api.key")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "secrets/api.key: secrets never go into git (pushed by" in result.remote
    assert "rego-policy" in result.remote
    outcome = read(str(server.audit_log))[-1]["outcomes"][0]
    assert (outcome["rule"], outcome["status"]) == ("rego-policy", "fail")


def test_warn_message_lets_the_push_through_with_the_warning(tmp_path: Path) -> None:
    server, clone = with_module(tmp_path)
    clone.write("data/table.csv", "x" * 5000)
    clone.commit("add a table")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "data/table.csv is 5000 bytes: consider Git LFS" in result.remote
    assert read(str(server.audit_log))[-1]["outcomes"][0]["status"] == "warn"


def test_clean_push_passes(tmp_path: Path) -> None:
    _, clone = with_module(tmp_path)
    clone.commit("docs", "docs/intro.md")
    assert clone.push("HEAD:refs/heads/main").code == 0


def test_syntax_error_rejects_the_push_naming_file_line_and_column(tmp_path: Path) -> None:
    server, clone = with_module(tmp_path)  # the first push went in under the valid module
    (tmp_path / "rego" / "changegate.rego").write_text("package changegate\n\ndeny contains msg if {\n")
    clone.commit("docs", "docs/intro.md")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "could not be evaluated" in result.remote
    assert f"{tmp_path / 'rego' / 'changegate.rego'}:3:22: this is unclosed" in result.remote
    assert "Traceback" not in result.out


def test_modules_come_from_the_protected_ref_not_from_the_change(tmp_path: Path) -> None:
    """Adversarial: a push that brings a secret and, in the same push, replaces the Rego module with
    one that allows everything is judged by the module main holds before the push."""
    fallback = "version: 1\nrules: [{id: bootstrap, deny: [deletion]}]\n"
    server = Server(tmp_path, fallback, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY.replace("rego/changegate.rego", ".changegate/changegate.rego"))
    clone.write(".changegate/changegate.rego", MODULE)
    clone.commit("policy in Rego")
    assert clone.push("HEAD:refs/heads/main").code == 0  # judged by the fallback: main had no policy yet
    clone.write(".changegate/changegate.rego", "package changegate\n\nimport rego.v1\n\ndeny := set()\n")
    clone.commit("sneak", "secrets/api.key")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "secrets/api.key: secrets never go into git" in result.remote
    assert "refs/heads/main:.changegate/changegate.rego" in read(str(server.audit_log))[-1]["outcomes"][0]["required"]


SLOW = """package changegate

import rego.v1

deny contains "never" if {
\tcount([i | some i in numbers.range(1, 50000000); i % 7 == 0]) < 0
}
"""


def test_a_slow_rego_policy_is_stopped_by_the_hooks_time_budget(tmp_path: Path) -> None:
    """rego-cpp evaluates in C, where a signal cannot interrupt Python: the evaluation runs in a
    thread the hook waits for, so the budget still stops the push (minutes of work otherwise)."""
    server, clone = with_module(tmp_path)
    (tmp_path / "rego" / "changegate.rego").write_text(SLOW)
    proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file),
                      "--time-budget", "1")
    assert proc.returncode == 0, proc.stderr
    clone.commit("docs", "docs/intro.md")
    start = time.monotonic()
    result = clone.push("HEAD:refs/heads/main")
    took = time.monotonic() - start
    assert result.code != 0
    assert "took longer than the time budget of 1 s" in result.remote
    assert took < 10, f"the push took {took:.1f} s"
    assert read(str(server.audit_log))[-1]["error"] == "time-budget"


def test_policy_check_at_merge_sees_the_stage_and_the_modules_verdict(tmp_path: Path) -> None:
    """The same rule judges a merge through `policy check` (the CLI and the Action's path)."""
    stage_aware = MODULE + '\ndeny contains "merges need a changelog entry" if {\n\tinput.stage == "merge"\n' \
                           '\tnot "CHANGELOG.md" in {p.path | some p in input.paths}\n}\n'
    _, clone = with_module(tmp_path, stage_aware)
    clone.commit("feature", "src/feature.py")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(tmp_path / "policy.yml"), "--ref",
                      "refs/heads/main", "--old", "origin/main", "--new", "HEAD", "--known-ref", "refs/remotes/**",
                      "--stage", "merge", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [outcome] = json.loads(proc.stdout)["outcomes"]
    assert (outcome["status"], outcome["message"]) == ("fail", "merges need a changelog entry")
    clone.commit("changelog", "CHANGELOG.md")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(tmp_path / "policy.yml"), "--ref",
                      "refs/heads/main", "--old", "origin/main", "--new", "HEAD", "--known-ref", "refs/remotes/**",
                      "--stage", "merge", "--format", "json")
    assert proc.returncode == 0, proc.stdout

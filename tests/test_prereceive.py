"""The hook at run time: hostile input, broken configuration, and what a pusher sees."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.repos import Clone, Server, git
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: hostile
rules:
  - id: no-pem
    deny_paths: ["*.pem"]
  - id: protect-cafe
    refs: ["refs/heads/caf\u00e9*"]
    deny: [deletion]
"""


def setup(tmp_path: Path) -> tuple[Server, Clone]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone


def test_non_utf8_newline_and_space_paths_are_caught_and_shown_escaped(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.write(b"caf\xe9 dir/evil\nremote: [ok] forged.pem")
    clone.commit("hostile")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "adds caf\\xe9 dir/evil\\nremote: [ok] forged.pem" in result.remote
    assert not any(line.startswith("[ok]") for line in result.remote.splitlines())


def test_unicode_ref_names_match_patterns(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    assert clone.push("HEAD:refs/heads/caf\u00e9-latte").code == 0
    result = clone.push(":refs/heads/caf\u00e9-latte")
    assert result.code != 0
    assert "refs/heads/caf\u00e9-latte: deletion" in result.remote


def test_internal_error_rejects_with_one_line_and_is_recorded(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    (server.path / "changegate" / "hook.json").write_text("{not json")
    clone.commit("more", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert result.remote.splitlines() == [
        line for line in result.remote.splitlines() if line.startswith("changegate: push rejected: internal error")]
    assert "Traceback" not in result.out
    last = json.loads(server.audit_log.read_text().splitlines()[-1])
    assert last["exit_code"] == 3 and last["error"] == "internal-error" and "Traceback" in last["detail"]


def test_policy_broken_on_the_server_rejects_with_its_location(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    server.policy_file.write_text("version: 1\nrules:\n  - id: x\n    deny: [explode]\n")
    clone.commit("more", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert f"the policy is invalid: {server.policy_file}:4:12: 'explode' is not allowed" in result.remote
    assert json.loads(server.audit_log.read_text().splitlines()[-1])["exit_code"] == 2


def test_every_decision_is_recorded_with_actor_server_and_policy_digest(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    clone.commit("key", "k.pem")
    clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "mallory"))
    records = [json.loads(line) for line in server.audit_log.read_text().splitlines()]
    assert [r["allowed"] for r in records] == [True, False]
    last = records[-1]
    assert last["actor"] == {"name": "mallory", "server": "gitlab", "source": "GL_USERNAME"}
    assert last["policy"]["digest"].startswith("sha256:")
    assert last["updates"][0]["ref"] == "refs/heads/main"
    assert {o["rule"]: o["status"] for o in last["outcomes"]} == {"no-pem": "fail", "protect-cafe": "skip"}


def test_pushed_objects_are_visible_in_quarantine(tmp_path: Path) -> None:
    """The verdict depends on reading pushed (quarantined) objects: a miss would wrongly pass."""
    server, clone = setup(tmp_path)
    commit = clone.commit("key", "deep/er/k.pem")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and f"commit {commit[:10]} on refs/heads/main adds deep/er/k.pem" in result.remote
    assert git("cat-file", "-e", commit, cwd=server.path, check=False).code != 0  # quarantine was dropped


def test_a_push_imports_nothing_heavy(tmp_path: Path) -> None:
    """Every push pays for every import: the standard library's json (re, enum), functools,
    collections, typing, subprocess and importlib cost 1-8 ms each, so the hook path avoids them
    (engine.quickjson, _signal, google-re2's binding without its wrapper). The installed hook runs
    a real push with Python's import log on; the log is kept apart from what the pusher sees."""
    server, clone = setup(tmp_path)
    hook = server.path / "hooks" / "pre-receive"
    real = hook.with_name("pre-receive.real")
    hook.rename(real)
    interpreter = real.read_text().splitlines()[0][2:].split()[0]
    log = tmp_path / "imports.log"
    hook.write_text(f"#!/bin/sh\n'{interpreter}' -I -S -X importtime '{real}' 2>'{log}'\ncode=$?\n"
                    f"grep -v '^import time:' '{log}' >&2\nexit $code\n")
    hook.chmod(0o755)
    clone.commit("paths and refs judged", "src/app.py")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.remote
    imported = {line.split("|")[-1].strip() for line in log.read_text().splitlines() if line.startswith("import time:")}
    assert {"engine.prereceive", "engine.rules.paths", "re2._re2"} <= imported  # the log is the hook's
    assert not imported & {"json", "re", "enum", "functools", "collections", "typing", "subprocess", "importlib",
                           "hashlib", "re2"}, sorted(imported)

"""Class 9 (a verdict announced before it is recorded): the audit record is written first; a
decision that cannot be recorded is a rejection, in one line, with nothing announced before it.

A full disk is the audit log as a symlink to /dev/full (every write fails with ENOSPC; the
tests run as root, so permission bits would not stop a write), or a directory in its place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.repos import Clone, Server, policy_cli, protected

POLICY = 'version: 1\nname: audit\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n'
UNRECORDED = ("changegate: push rejected: the decision could not be recorded in the audit log ({reason}); "
              "an administrator must make changegate/audit.jsonl in the repository writable")
REASONS = {"full disk": "No space left on device", "directory": "Is a directory"}


def setup(tmp_path: Path) -> tuple[Server, Clone]:
    return protected(tmp_path, POLICY)


def break_audit_log(server: Server, how: str) -> None:
    server.audit_log.unlink()
    if how == "full disk":
        server.audit_log.symlink_to("/dev/full")
    else:
        server.audit_log.mkdir()


@pytest.mark.parametrize("how", REASONS)
@pytest.mark.parametrize("change", ["allowed", "denied"])
def test_a_decision_that_cannot_be_recorded_is_rejected_in_one_line(tmp_path: Path, how: str, change: str) -> None:
    server, clone = setup(tmp_path)
    break_audit_log(server, how)
    before = server.rev("refs/heads/main")
    clone.commit(change, "a.txt" if change == "allowed" else "m.gguf")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert result.remote.splitlines() == [UNRECORDED.format(reason=REASONS[how])]
    assert server.rev("refs/heads/main") == before


def test_an_invalid_policy_that_cannot_be_recorded_is_rejected_in_one_line(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    server.policy_file.write_text("version: 1\nrules: [{id: x, deny: [explode]}]\n")
    break_audit_log(server, "full disk")
    clone.commit("more", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert result.remote.splitlines() == [UNRECORDED.format(reason="No space left on device")]


def test_an_internal_error_that_cannot_be_recorded_says_so_in_its_one_line(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    (server.path / "changegate" / "hook.json").write_text("{not json")
    break_audit_log(server, "full disk")
    clone.commit("more", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    [line] = result.remote.splitlines()
    assert result.code != 0
    assert line.startswith("changegate: push rejected: internal error (JSONDecodeError")
    assert line.endswith("; it could not be recorded in the audit log either")


def test_policy_check_shows_no_verdict_it_could_not_record(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    head = clone.commit("ok", "a.txt")
    log = tmp_path / "log"
    log.symlink_to("/dev/full")
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                      "--ref", "refs/heads/main", "--new", head, "--audit-log", str(log), "--format", "json")
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: the decision could not be recorded in {log} "
                                        "(No space left on device), so it is not given"]

"""`policy evidence create|attach|show|verify` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.evidence.evidence_support import NOTES, create, decode, protected, tree
from tests.helpers.attest import KeyPair
from tests.helpers.repos import policy_cli


def signers_file(tmp_path: Path, ci: KeyPair) -> Path:
    path = tmp_path / "trusted_signers"
    path.write_text(f'ci-dry-run namespaces="changegate-evidence" {ci.public_line}\n')
    return path


def test_create_signs_evidence_for_a_result_that_already_exists(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    envelope = create(clone, ci, tmp_path / "e.json", "--env", "staging", "--exit-code", "3",
                      "--finished", "2026-03-01T10:00:00Z", cmd=("make", "dry-run"))
    statement = decode(envelope)[1]
    assert statement["subject"][0]["digest"]["gitTree"] == tree(clone)
    predicate = statement["predicate"]
    assert (predicate["result"], predicate["exitCode"], predicate["env"]) == ("failed", 3, "staging")
    assert predicate["finishedOn"] == predicate["startedOn"] == "2026-03-01T10:00:00Z"
    assert predicate["command"] == ["make", "dry-run"]


def test_create_refuses_a_result_that_contradicts_the_exit_code(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    log = tmp_path / "log"
    log.write_text("x")
    done = policy_cli("evidence", "create", "--key", str(ci.path), "--log", str(log), "--exit-code", "1",
                      "--result", "passed", "--", "true", cwd=clone.path)
    assert done.returncode == 2 and "contradicts" in done.stderr


def test_attach_files_evidence_on_its_tree_once(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    path = tmp_path / "e.json"
    create(clone, ci, path, "--exit-code", "0")
    for _ in range(2):
        done = policy_cli("evidence", "attach", str(path), cwd=clone.path)
        assert done.returncode == 0, done.stderr
    assert "already attached" in done.stderr
    note = clone.git("notes", f"--ref={NOTES}", "show", tree(clone)).out
    assert [json.loads(line)["payloadType"] for line in note.splitlines() if line] == ["application/vnd.in-toto+json"]


def test_attach_refuses_a_file_that_is_not_evidence(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}\n')
    done = policy_cli("evidence", "attach", str(junk), cwd=clone.path)
    assert done.returncode == 2 and "not evidence" in done.stderr


def test_show_prints_the_notes_of_heads_tree_readably(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    create(clone, ci, tmp_path / "e.json", "--env", "staging", "--exit-code", "0", "--attach",
           cmd=("docker", "exec", "dry-run-env", "python", "run_model.py", "--dry-run"))
    done = policy_cli("evidence", "show", cwd=clone.path)
    assert done.returncode == 0, done.stderr
    assert f"subject:   git-tree gitTree:{tree(clone)}" in done.stdout
    assert "command:   docker exec dry-run-env python run_model.py --dry-run" in done.stdout
    assert "result:    passed (exit code 0)" in done.stdout
    assert f"signed by: {ci.fingerprint}" in done.stdout
    assert "NOT verified" in done.stdout


def test_show_json_gives_the_decoded_statement(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    path = tmp_path / "e.json"
    envelope = create(clone, ci, path, "--exit-code", "0")
    done = policy_cli("evidence", "show", "--json", str(path), cwd=clone.path)
    assert json.loads(done.stdout)[0]["statement"] == decode(envelope)[1]


def test_verify_accepts_evidence_from_a_listed_key(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    path = tmp_path / "e.json"
    create(clone, ci, path, "--env", "staging", "--exit-code", "0")
    done = policy_cli("evidence", "verify", "--allowed-signers", str(signers_file(tmp_path, ci)),
                      "--signer", "ci-dry-run", "--rev", "HEAD", "--env", "staging", str(path), cwd=clone.path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ACCEPTED file {path}: tree {tree(clone)[:12]}, passed in staging" in done.stdout


def test_verify_rejects_an_unknown_key_and_says_so(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    path = tmp_path / "e.json"
    create(clone, dev, path, "--exit-code", "0")
    done = policy_cli("evidence", "verify", "--allowed-signers", str(signers_file(tmp_path, ci)), str(path),
                      cwd=clone.path)
    assert done.returncode == 1
    assert f"REJECTED file {path}: unknown-key:" in done.stdout


def test_verify_of_notes_checks_they_bind_the_commits_tree(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    create(clone, ci, tmp_path / "e.json", "--exit-code", "0", "--attach")
    trusted = str(signers_file(tmp_path, ci))
    assert policy_cli("evidence", "verify", "--allowed-signers", trusted, cwd=clone.path).returncode == 0
    clone.commit("next", "prompts/x.txt")
    done = policy_cli("evidence", "verify", "--allowed-signers", trusted, cwd=clone.path)
    assert done.returncode == 1 and "no evidence note on tree" in done.stdout


def test_verify_honours_max_age_as_of_now(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    path = tmp_path / "e.json"
    create(clone, ci, path, "--exit-code", "0", "--finished", "2026-03-01T10:00:00Z")
    trusted = str(signers_file(tmp_path, ci))
    fresh = policy_cli("evidence", "verify", "--allowed-signers", trusted, "--max-age", "1d",
                       "--now", "2026-03-02T09:00:00Z", str(path), cwd=clone.path)
    stale = policy_cli("evidence", "verify", "--allowed-signers", trusted, "--max-age", "1d",
                       "--now", "2026-03-02T11:00:00Z", str(path), cwd=clone.path)
    assert fresh.returncode == 0 and stale.returncode == 1
    assert ": expired: " in stale.stdout

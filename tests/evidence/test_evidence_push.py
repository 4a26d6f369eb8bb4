"""`require: evidence` judged by the pre-receive hook: real keys, real dry runs, real pushes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.evidence.evidence_support import (
    NOTES,
    POLICY,
    attach,
    create,
    decode,
    dry_run,
    protected,
    push_with_notes,
    tree,
    with_payload,
)
from tests.helpers.attest import KeyPair
from tests.helpers.repos import Clone, Server


def test_valid_evidence_pushed_with_the_branch_is_accepted(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("new prompt", "prompts/support.txt")
    ran = dry_run(clone, ci, "--env", "staging")
    assert ran.returncode == 0, ran.stderr
    result = push_with_notes(clone)
    assert result.code == 0, result.out
    assert server.rev("refs/heads/main") == clone.head()
    assert server.rev(NOTES) is not None


def test_change_without_evidence_is_rejected_with_how_to_make_it(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("new model config", "models/support/config.yaml")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "[DENY] dry-run-passed: no acceptable dry-run evidence" in result.remote
    assert "no evidence found" in result.remote
    assert "policy dry-run --key KEY --env staging --attach" in result.remote
    assert "git push origin HEAD refs/notes/changegate/evidence" in result.remote


def test_change_outside_the_when_paths_needs_no_evidence(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("docs", "docs/index.md")
    assert clone.push("HEAD:refs/heads/main").code == 0


def test_evidence_for_an_earlier_commit_is_rejected_as_wrong_tree(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    earlier = tree(clone)
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    clone.commit("one more change after the dry run", "prompts/b.txt")
    result = push_with_notes(clone)
    assert result.code != 0
    assert f"note on tree {earlier[:12]}: wrong-tree" in result.remote
    assert "evidence binds to one exact tree" in result.remote


def test_evidence_copied_onto_another_branch_state_is_rejected_as_wrong_tree(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.git("checkout", "-q", "-b", "feature")
    clone.commit("model change", "models/m/config.yaml")
    evidence_tree = tree(clone)
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    # main moves on (someone else's change), and the feature is rebased onto it: a new tree
    other = Clone(tmp_path, server, "other")
    other.commit("unrelated", "docs/x.md")
    assert other.push("HEAD:refs/heads/main").code == 0
    clone.git("fetch", "-q", "origin")
    clone.git("rebase", "-q", "origin/main")
    replayed = tree(clone)
    assert replayed != evidence_tree
    line = clone.git("notes", f"--ref={NOTES}", "show", evidence_tree).out.strip()
    clone.git("notes", f"--ref={NOTES}", "append", "-m", line, replayed)  # the replay
    result = push_with_notes(clone)
    assert result.code != 0
    assert f"note on tree {replayed[:12]}: wrong-tree: it is for tree {evidence_tree[:12]}" in result.remote


def test_tampered_payload_is_rejected_as_bad_signature(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    envelope = create(clone, ci, tmp_path / "failed.json", "--env", "staging", "--exit-code", "1")
    _, statement = decode(envelope)
    statement["predicate"].update(result="passed", exitCode=0)  # turn the failure into a pass
    attach(clone, with_payload(envelope, statement), tmp_path / "tampered.json")
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": bad-signature: " in result.remote


def test_signature_swapped_in_from_other_evidence_is_rejected(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    genuine = create(clone, ci, tmp_path / "other-tree.json", "--env", "staging", "--exit-code", "0",
                     rev="HEAD~1")
    forged, _ = decode(create(clone, dev, tmp_path / "mine.json", "--env", "staging", "--exit-code", "0"))
    forged["signatures"] = decode(genuine)[0]["signatures"]  # ci's signature over another statement
    attach(clone, json.dumps(forged).encode(), tmp_path / "swapped.json")
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": bad-signature: " in result.remote


def test_evidence_signed_by_an_unknown_key_is_rejected(
        tmp_path: Path, ci: KeyPair, dev: KeyPair, mallory: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, mallory, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": unknown-key: " in result.remote


def test_evidence_signed_by_a_trusted_key_of_another_principal_is_rejected(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, dev, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": wrong-signer: signed by a key in" in result.remote
    assert "not one listed for ci-dry-run" in result.remote


def test_expired_evidence_is_rejected(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    old = create(clone, ci, tmp_path / "old.json", "--env", "staging", "--exit-code", "0",
                 "--started", "2020-01-01T00:00:00Z", "--finished", "2020-01-01T00:10:00Z")
    attach(clone, old, tmp_path / "old-attach.json")
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": expired: it finished at 2020-01-01T00:10:00Z" in result.remote
    assert "at most 7d is allowed" in result.remote


def test_failed_dry_run_is_rejected(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    ran = dry_run(clone, ci, "--env", "staging", cmd=("sh", "-c", "echo model crashed; exit 4"))
    assert ran.returncode == 4
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": failed-result: the dry run failed (exit code 4); passed is required" in result.remote


def test_evidence_from_the_wrong_environment_is_rejected(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, ci, "--env", "laptop").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": wrong-env: it ran in environment 'laptop'; 'staging' is required" in result.remote


def test_every_rejected_candidate_is_listed_with_its_reason(
        tmp_path: Path, ci: KeyPair, dev: KeyPair, mallory: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, ci, "--env", "staging", cmd=("false",)).returncode == 1
    assert dry_run(clone, mallory, "--env", "staging").returncode == 0
    assert dry_run(clone, ci, "--env", "dev").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    rejected = [line for line in result.remote.splitlines() if line.startswith("  seen:       note on tree")]
    assert len(rejected) == 3
    assert [r for r in ("failed-result", "unknown-key", "wrong-env") if any(f": {r}: " in x for x in rejected)] \
        == ["failed-result", "unknown-key", "wrong-env"]


def test_one_good_record_among_bad_ones_is_enough(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, ci, "--env", "staging", cmd=("false",)).returncode == 1
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code == 0, result.out


def test_squash_merge_with_the_same_tree_keeps_the_evidence(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.git("checkout", "-q", "-b", "feature")
    clone.commit("model part 1", "models/m/config.yaml")
    clone.commit("model part 2", "models/m/tokenizer.json")
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    assert clone.push("HEAD:refs/heads/feature", NOTES).code == 0  # the rule guards main only
    feature_tree = tree(clone)
    clone.git("checkout", "-q", "main")
    clone.git("merge", "-q", "--squash", "feature")
    clone.git("commit", "-q", "-m", "squashed model change")
    assert tree(clone) == feature_tree and clone.head() != clone.git("rev-parse", "feature").out.strip()
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out


def test_reworded_commit_with_the_same_tree_keeps_the_evidence(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    before = clone.head()
    clone.git("commit", "-q", "--amend", "-m", "prompt: reworded after the dry run")
    assert clone.head() != before
    result = push_with_notes(clone)
    assert result.code == 0, result.out


def test_pushing_only_the_notes_ref_is_not_judged_by_the_evidence_rule(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    every_change = POLICY.replace('    refs: ["refs/heads/main"]\n    when: {paths: ["models/**", "prompts/**"]}\n', "")
    assert "when:" not in every_change
    server = Server(tmp_path, every_change)
    (tmp_path / "allowed_signers").write_text(f'ci-dry-run namespaces="changegate-evidence" {ci.public_line}\n')
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    alone = clone.push(NOTES)  # the evidence first, alone
    assert alone.code == 0, alone.out
    result = clone.push("HEAD:refs/heads/main")  # the branch later: its evidence is already on the server
    assert result.code == 0, result.out


def test_keys_come_from_the_protected_ref_never_from_the_change(
        tmp_path: Path, ci: KeyPair, dev: KeyPair, mallory: KeyPair) -> None:
    bootstrap = "version: 1\nrules:\n  - id: tags\n    refs: ['refs/tags/**']\n    deny: [deletion]\n"
    server = Server(tmp_path, bootstrap, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY.replace("allowed_signers}", ".changegate/allowed_signers}"))
    clone.write(".changegate/allowed_signers", f'ci-dry-run namespaces="changegate-evidence" {ci.public_line}\n')
    clone.commit("protect main")
    assert clone.push("HEAD:refs/heads/main").code == 0
    # the change lists mallory's key as ci-dry-run, and brings evidence mallory signed
    clone.write(".changegate/allowed_signers", f"ci-dry-run {mallory.public_line}\n")
    clone.commit("model", "models/m/config.yaml")
    assert dry_run(clone, mallory, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    assert ": unknown-key: " in result.remote
    # the same change with evidence from the key the protected ref trusts passes
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code == 0, result.out


def test_missing_allowed_signers_file_is_an_error_not_a_pass(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    server, clone = protected(tmp_path, ci, dev)
    (tmp_path / "allowed_signers").unlink()
    clone.commit("prompt", "prompts/a.txt")
    assert dry_run(clone, ci, "--env", "staging").returncode == 0
    result = push_with_notes(clone)
    assert result.code != 0
    assert "[ERROR] dry-run-passed: evidence cannot be verified" in result.remote
    assert "does not exist" in result.remote

"""Signed approvals on a plain git server: real keys, real `policy approve`, real pushes
into a bare repository whose pre-receive hook judges them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from tests.approvals.conftest import NOTES, Repo
from tests.helpers.repos import git, policy_cli
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: approvals-test
trust: {allowed_signers: allowed_signers}
rules:
  - id: prompts-need-ml-leads
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals:
        count: COUNT
        from: {signers: [alice@example.com, bob@example.com, ann@example.com]}
        invalidate_on_push: FRESH
"""
SERVING = """
  - id: serving-needs-sre
    refs: ["refs/heads/main"]
    when: {paths: ["serving/**"]}
    require:
      approvals: {count: 1, from: {signers: ["*@sre.example.com"]}}
"""


def policy(count: int = 1, *, fresh: bool = True, serving: bool = False) -> str:
    text = POLICY.replace("COUNT", str(count)).replace("FRESH", "true" if fresh else "false")
    return text + (SERVING if serving else "")


def test_push_is_rejected_until_two_signed_approvals_exist_then_accepted(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(2))
    commit = repo.propose("prompts/system.txt")
    code, out = repo.push_main()
    assert code != 0
    assert "[DENY] prompts-need-ml-leads: refs/heads/main: 0 valid approval(s) of 2, 2 more needed" in out
    assert "alice@example.com, bob@example.com" in out  # who can give them (the author is not listed)
    assert "ann@example.com, " not in out.split("more needed from")[1].split("\n")[0]
    assert f"policy approve {commit[:10]}" in out

    repo.approve("alice@example.com", commit)
    code, out = repo.push_main()
    assert code != 0
    assert "1 valid approval(s) of 2, 1 more needed from bob@example.com" in out
    assert "valid: approved by alice@example.com (signed record" in out

    repo.approve("bob@example.com", commit)
    code, out = repo.push_main()
    assert code == 0, out
    assert repo.server.rev("refs/heads/main") == commit
    outcome = next(o for o in repo.last_decision()["outcomes"] if o["rule"] == "prompts-need-ml-leads")
    assert outcome["status"] == "pass"


def test_approval_notes_pushed_in_the_same_push_count(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit, publish=False)
    approver = repo.clone_of("alice@example.com")
    # the approver pushes the change and the approval together
    result = approver.push(f"{commit}:refs/heads/main", NOTES)
    assert result.code == 0, result.out
    assert repo.server.rev("refs/heads/main") == commit


def test_change_outside_the_rules_paths_needs_no_approval(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    repo.propose("docs/readme.md")
    code, out = repo.push_main()
    assert code == 0, out


def test_self_approval_is_ignored_with_its_reason(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("ann@example.com", commit)  # ann@example.com authored the commit
    code, out = repo.push_main()
    assert code != 0
    assert "ignored: ann@example.com approved their own change (it is the author e-mail of commit" in out


def test_approval_by_the_pusher_is_self_approval(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit)
    result = repo.author.push("HEAD:refs/heads/main", env=server_env("gitlab", "alice@example.com"))
    assert result.code != 0
    assert "alice@example.com approved their own change" in result.remote


def test_approval_goes_stale_after_a_new_commit(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    first = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", first)
    repo.propose("prompts/a.txt", message="sneaky edit after approval")
    code, out = repo.push_main()
    assert code != 0
    assert f"ignored: alice@example.com's approval is stale: given on commit {first[:10]}" in out


def test_without_invalidate_on_push_an_approval_of_an_earlier_commit_counts(
        make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1, fresh=False))
    first = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", first)
    repo.propose("prompts/b.txt", message="follow-up")
    code, out = repo.push_main()
    assert code == 0, out


def test_approval_for_another_ref_is_a_rejected_replay(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit, ref="refs/heads/release")
    code, out = repo.push_main()
    assert code != 0
    assert "rejected record: replayed-ref: alice@example.com's record" in out
    assert "approves refs/heads/release, not refs/heads/main" in out


def _note_on(repo: Repo, person: str, tree: str, line: str) -> None:
    clone = repo.clone_of(person)
    git("notes", f"--ref={NOTES}", "append", "--allow-empty", "-F", "-", tree, cwd=clone.path,
        stdin=line.encode() + b"\n")
    assert clone.push(NOTES).code == 0


def _note_lines(repo: Repo, person: str, tree: str) -> list[str]:
    return repo.clone_of(person).git("notes", f"--ref={NOTES}", "show", tree).out.split()


def test_approval_copied_onto_another_tree_is_a_rejected_replay(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    first = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", first)
    old_tree = repo.author.git("rev-parse", f"{first}^{{tree}}").out.strip()
    [envelope] = _note_lines(repo, "alice@example.com", old_tree)
    second = repo.propose("prompts/a.txt", message="different content")
    new_tree = repo.author.git("rev-parse", f"{second}^{{tree}}").out.strip()
    repo.clone_of("alice@example.com").git("fetch", "-q", "origin")
    _note_on(repo, "alice@example.com", new_tree, envelope)
    code, out = repo.push_main()
    assert code != 0, out
    assert f"rejected record: replayed-tree: alice@example.com's record was signed for tree {old_tree[:10]}" in out
    assert f"attached to tree {new_tree[:10]}" in out


def test_approval_signed_with_an_unknown_key_is_rejected(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit, key="mallory")  # mallory's key, claiming to be alice
    code, out = repo.push_main()
    assert code != 0
    assert "rejected record: unknown-key: no signature is from a key in allowed_signers" in out


def test_approval_signed_with_another_approvers_key_is_rejected(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit, key="bob")  # bob's (trusted) key claiming alice
    code, out = repo.push_main()
    assert code != 0
    assert "rejected record: impersonation: the record claims approver 'alice@example.com'" in out


def test_tampered_approval_is_rejected(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    tree = repo.author.git("rev-parse", f"{commit}^{{tree}}").out.strip()
    repo.approve("dave@example.com", commit, publish=False)  # dave is trusted but not eligible
    [line] = _note_lines(repo, "dave@example.com", tree)
    envelope = json.loads(line)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["approver"] = "alice@example.com"  # rewrite who approved, keep the signature
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    other = repo.clone_of("bob@example.com")
    git("notes", f"--ref={NOTES}", "add", "-F", "-", tree, cwd=other.path, stdin=json.dumps(envelope).encode())
    assert other.push(NOTES).code == 0
    code, out = repo.push_main()
    assert code != 0
    assert "rejected record: forged-or-tampered: the signature does not match" in out


def test_trusted_signer_outside_from_is_not_eligible(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("dave@example.com", commit)
    code, out = repo.push_main()
    assert code != 0
    assert "ignored: dave@example.com approved but is not eligible: not among alice@example.com" in out


def test_request_for_changes_vetoes_until_the_same_approver_approves(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit)
    repo.approve("bob@example.com", commit, extra=("--request-changes", "--comment", "tone is off"))
    code, out = repo.push_main()
    assert code != 0
    assert "changes requested by bob@example.com" in out
    assert "veto: bob@example.com requested changes (signed record" in out
    repo.approve("bob@example.com", commit)  # bob's later approval lifts his veto
    code, out = repo.push_main()
    assert code == 0, out


def test_two_path_scoped_rules_must_both_be_satisfied(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1, serving=True))
    commit = repo.propose("prompts/a.txt", "serving/config.yaml")
    repo.approve("alice@example.com", commit)
    code, out = repo.push_main()
    assert code != 0
    assert "[DENY] serving-needs-sre" in out
    assert "prompts-need-ml-leads" not in out  # satisfied: only the failing rule is shown
    repo.approve("carol@sre.example.com", commit)
    code, out = repo.push_main()
    assert code == 0, out


def test_approvals_command_lists_who_approved_what(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit, extra=("--comment", "prompt reviewed"))
    repo.approve("alice@example.com", commit, key="mallory")
    clone = repo.clone_of("bob@example.com")
    clone.git("fetch", "-q", "origin", f"+{NOTES}:{NOTES}")
    listed = policy_cli("approvals", commit, "--allowed-signers", str(repo.root / "allowed_signers"),
                        cwd=clone.path)
    assert listed.returncode == 0, listed.stderr
    assert "2 approval record(s)" in listed.stdout
    assert "[ok] alice@example.com approved for refs/heads/main" in listed.stdout
    assert "prompt reviewed" in listed.stdout
    assert "[REJECTED] alice@example.com approved" in listed.stdout
    assert "unknown-key" in listed.stdout
    as_json = policy_cli("approvals", commit, "--policy", str(repo.server.policy_file), "--format", "json",
                         cwd=clone.path)
    records = json.loads(as_json.stdout)["records"]
    assert [r["status"] for r in records] == ["valid", "unknown-key"]


def test_record_is_a_signed_statement_about_the_tree_for_the_ref(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo(policy(1))
    commit = repo.propose("prompts/a.txt")
    clone = repo.clone_of("alice@example.com")
    clone.git("fetch", "-q", "origin")
    clone.git("config", "user.email", "alice@example.com")  # the default identity
    made = policy_cli("approve", commit, "--key", str(repo.keys["alice"].path), "--comment", "ok",
                      cwd=clone.path)  # --ref defaults to origin's HEAD branch
    assert made.returncode == 0, made.stderr
    assert f"alice@example.com approved commit {commit[:10]}" in made.stdout
    assert f"git push origin {NOTES}" in made.stdout
    tree = clone.git("rev-parse", f"{commit}^{{tree}}").out.strip()
    [line] = _note_lines(repo, "alice@example.com", tree)
    envelope = json.loads(line)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert statement["predicateType"] == "urn:changegate:predicate:approval:v1"
    assert statement["subject"] == [{"digest": {"gitTree": tree}}]
    predicate = statement["predicate"]
    assert {k: predicate[k] for k in ("approver", "decision", "ref", "commit", "comment")} == {
        "approver": "alice@example.com", "decision": "approved", "ref": "refs/heads/main", "commit": commit,
        "comment": "ok"}
    assert predicate["time"].endswith("Z")

"""A record the server accepted cannot be taken away by a push (issue 9, class 5).

The server holds a veto (bob requested changes) in refs/notes/changegate/approvals, or a
failed dry run in refs/notes/changegate/evidence. An attacker with push access tries every
way to make it disappear: delete the ref, force it to a history without the record, drop
the line in a fast-forward, move it to another object, re-fan the notes tree out without
it, merge it away, or shadow it with a note at another fan-out path. Every attempt is
rejected by the built-in rule `changegate-records`, or the record still counts.
Real keys, real `policy approve` / `policy dry-run`, real pushes into a protected bare repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.attest import KeyPair, make_key
from tests.helpers.repos import Clone, Result, Server, git, policy_cli

APPROVALS = "refs/notes/changegate/approvals"
EVIDENCE = "refs/notes/changegate/evidence"
POLICIES = {
    APPROVALS: """
version: 1
name: records
trust: {allowed_signers: allowed_signers}
rules:
  - id: prompts-need-approval
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com, bob@example.com]}}
""",
    EVIDENCE: """
version: 1
name: records
trust: {allowed_signers: allowed_signers}
rules:
  - id: dry-run-passed
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      evidence: {type: dry-run, result: passed, signers: [ci-dry-run], env: staging}
""",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("record-keys")
    return {name: make_key(directory, name) for name in ("alice", "bob", "ci")}


class Records:
    """A protected server whose `ref` holds, on the tree of a prompt change, a record an attacker wants gone:
    bob's request for changes (beside alice's approval), or a failed staging dry run (beside a passed dev one).
    The record was added by the last notes commit, so its parent is the history without it."""

    def __init__(self, root: Path, ref: str, keys: dict[str, KeyPair]) -> None:
        self.root, self.ref, self.keys = root, ref, keys
        (root / "allowed_signers").write_text(
            f'alice@example.com namespaces="changegate-approval" {keys["alice"].public_line}\n'
            f'bob@example.com namespaces="changegate-approval" {keys["bob"].public_line}\n'
            f'ci-dry-run namespaces="changegate-evidence" {keys["ci"].public_line}\n')
        self.server = Server(root, POLICIES[ref])
        self.author = Clone(root, self.server, "author")
        self.author.commit("init", "README.md")
        assert self.author.push("HEAD:refs/heads/main").code == 0
        self.change = self.author.commit("new prompt", "prompts/system.txt")
        assert self.author.push("HEAD:refs/heads/review").code == 0
        self.tree = self.author.git("rev-parse", "HEAD^{tree}").out.strip()
        if ref == APPROVALS:
            self._sign("alice", [])
            self._sign("bob", ["--request-changes", "--comment", "the tone is wrong"])
        else:
            self._dry_run("dev", "true")
            self._dry_run("staging", "false")
            assert self.author.push(ref).code == 0
        self.records = self.server.rev(ref)
        assert self.records is not None
        self.attacker = Clone(root, self.server, "attacker")
        self.attacker.git("fetch", "-q", "origin", f"+{ref}:{ref}")
        self.before = self.lines(self.records + "^")
        self.target = next(line for line in self.lines(self.records) if line not in self.before)

    def _sign(self, person: str, extra: list[str]) -> None:
        clone = Clone(self.root, self.server, person)
        clone.git("fetch", "-q", "origin", f"+{self.ref}:{self.ref}", check=False)
        signed = policy_cli("approve", self.change, "--key", str(self.keys[person].path), "--ref", "refs/heads/main",
                            "--as", f"{person}@example.com", *extra, cwd=clone.path)
        assert signed.returncode == 0, signed.stderr
        assert clone.push(self.ref).code == 0

    def _dry_run(self, env: str, command: str) -> None:
        ran = policy_cli("dry-run", "--key", str(self.keys["ci"].path), "--env", env, "--attach", "--", command,
                         cwd=self.author.path)
        assert ran.returncode == (0 if command == "true" else 1), ran.stderr

    def lines(self, commit: str, path: str | None = None, *, where: Path | None = None) -> list[bytes]:
        shown = git("cat-file", "-p", f"{commit}:{path or self.tree}", cwd=where or self.attacker.path, check=False)
        return [line.encode() for line in shown.out.splitlines() if line.strip()] if shown.code == 0 else []

    def notes_commit(self, parent: str | None, entries: dict[str, bytes | None], base: str | None = None) -> str:
        """A notes commit whose tree is `base`'s (default: `parent`'s) with `entries` set or removed."""
        index = self.attacker.path / ".git" / "attack-index"
        env = {"GIT_INDEX_FILE": str(index)}
        self.attacker.git("read-tree", base or parent or self.records, env=env)
        for path, content in entries.items():
            if content is None:
                self.attacker.git("update-index", "--force-remove", path, env=env)
                continue
            blob = git("hash-object", "-w", "--stdin", cwd=self.attacker.path, stdin=content).out.strip()
            self.attacker.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = self.attacker.git("write-tree", env=env).out.strip()
        index.unlink()
        parents = ["-p", parent] if parent else []
        return self.attacker.git("commit-tree", tree, *parents, "-m", "notes").out.strip()

    def push_records(self, commit: str, *, force: bool = False) -> Result:
        return self.attacker.push(f"{'+' if force else ''}{commit}:{self.ref}")

    def verdict(self) -> Result:
        """The change pushed to main: what the hook says with the server's records."""
        return self.author.push("HEAD:refs/heads/main")

    def assert_record_counts(self) -> None:
        out = self.verdict()
        assert out.code != 0, out.out
        if self.ref == APPROVALS:
            assert "changes requested by bob@example.com" in out.remote, out.remote
        else:
            assert "failed-result: the dry run failed" in out.remote, out.remote

    def assert_rejected(self, pushed: Result) -> None:
        assert pushed.code != 0, pushed.out
        assert "[DENY] changegate-records: records the server accepted cannot be removed" in pushed.remote
        assert self.server.rev(self.ref) == self.records  # nothing changed on the server
        self.assert_record_counts()


@pytest.fixture(params=[APPROVALS, EVIDENCE], ids=["veto", "failed-dry-run"])
def records(request: pytest.FixtureRequest, tmp_path: Path, keys: dict[str, KeyPair]) -> Records:
    return Records(tmp_path, request.param, keys)


def fan(tree: str) -> str:
    return f"{tree[:2]}/{tree[2:]}"


def without(lines: list[bytes], line: bytes) -> bytes:
    return b"".join(x + b"\n" for x in lines if x != line)


def test_deleting_a_notes_ref_is_rejected(records: Records) -> None:
    pushed = records.attacker.push(f":{records.ref}")
    records.assert_rejected(pushed)
    assert "deleting it would remove every record it holds" in pushed.remote


def test_force_pushing_a_history_without_the_record_is_rejected(records: Records) -> None:
    rewound = records.push_records(records.records + "^", force=True)
    records.assert_rejected(rewound)
    assert "is not a fast-forward" in rewound.remote
    unrelated = records.notes_commit(None, {records.tree: without(records.lines(records.records), records.target)})
    records.assert_rejected(records.push_records(unrelated, force=True))


def test_a_fast_forward_that_drops_the_record_line_is_rejected(records: Records) -> None:
    dropped = records.notes_commit(records.records,
                                   {records.tree: without(records.lines(records.records), records.target)})
    pushed = records.push_records(dropped)
    records.assert_rejected(pushed)
    assert f"the note on {records.tree[:12]} loses 1 of its 2 line(s)" in pushed.remote
    claim = "decision changes_requested" if records.ref == APPROVALS else "result failed, env staging"
    assert claim in pushed.remote  # the lost line is named by what it claims


def test_moving_the_record_to_another_object_is_rejected(records: Records) -> None:
    readme = records.attacker.git("rev-parse", "HEAD:README.md").out.strip()
    moved = records.notes_commit(records.records, {
        records.tree: without(records.lines(records.records), records.target), readme: records.target + b"\n"})
    records.assert_rejected(records.push_records(moved))


def test_re_fanning_out_while_dropping_the_record_is_rejected(records: Records) -> None:
    refanned = records.notes_commit(records.records, {
        records.tree: None, fan(records.tree): without(records.lines(records.records), records.target)})
    records.assert_rejected(records.push_records(refanned))


def test_a_notes_merge_that_drops_the_record_is_rejected(records: Records) -> None:
    clone, ref = records.attacker, records.ref
    kind = ref.removeprefix("refs/notes/")
    clone.git("update-ref", ref, records.records + "^")  # the attacker's side: the history before the record
    clone.git("notes", f"--ref={kind}", "append", "-m", "attacker was here", records.tree)
    clone.git("fetch", "-q", "origin", f"+{ref}:{ref}-remote")
    clone.git("notes", f"--ref={kind}", "merge", "-s", "ours", f"{ref}-remote")  # keeps the attacker's note
    merged = clone.git("rev-parse", ref).out.strip()
    assert len(clone.git("rev-list", "--parents", "-n1", merged).out.split()) == 3  # a real merge commit
    assert records.target not in records.lines(merged)
    records.assert_rejected(records.push_records(merged))


def test_a_shadowing_note_at_another_fanout_path_does_not_hide_the_record(records: Records) -> None:
    # Re-fanning out that keeps every line is a legitimate update, and is accepted...
    lines = records.lines(records.records)
    refanned = records.notes_commit(records.records, {records.tree: None, fan(records.tree): b"".join(
        line + b"\n" for line in lines)})
    pushed = records.push_records(refanned)
    assert pushed.code == 0, pushed.out
    # ... then a flat note without the record is added: git reads one of the two, changegate reads both.
    shadowed = records.notes_commit(refanned, {records.tree: without(lines, records.target)})
    assert records.push_records(shadowed).code == 0  # adding a note loses nothing
    assert records.lines(shadowed, records.tree) == [x for x in lines if x != records.target]
    records.assert_record_counts()


def test_concurrent_approvers_reconcile_with_a_notes_merge_and_cannot_overwrite_each_other(
        tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    records = Records(tmp_path, APPROVALS, keys)
    # bob, on another machine whose notes predate his veto, approves the fixed change there
    clone, ref = Clone(tmp_path, records.server, "bob-laptop"), APPROVALS
    clone.git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
    clone.git("update-ref", ref, records.records + "^")
    bob_again = policy_cli("approve", records.change, "--key", str(keys["bob"].path), "--ref", "refs/heads/main",
                           "--as", "bob@example.com", "--comment", "fixed, thanks", cwd=clone.path)
    assert bob_again.returncode == 0, bob_again.stderr
    overwrite = clone.push(f"+{ref}")  # forcing these notes over the server's would drop the veto record
    assert overwrite.code != 0 and "[DENY] changegate-records" in overwrite.remote, overwrite.out
    assert records.server.rev(ref) == records.records
    # the documented way: fetch, merge with cat_sort_uniq (a fast-forward keeping both lines), push
    clone.git("fetch", "-q", "origin", f"+{ref}:{ref}-remote")
    clone.git("notes", "--ref=changegate/approvals", "merge", "-s", "cat_sort_uniq", f"{ref}-remote")
    merged = clone.push(ref)
    assert merged.code == 0, merged.out
    kept = records.lines(ref, where=records.server.path)
    assert records.target in kept and len(kept) == 3
    accepted = records.verdict()  # bob's later approval lifts his own veto; alice's approval counts
    assert accepted.code == 0, accepted.remote


def test_creating_a_notes_ref_and_appending_records_is_accepted(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    server = Server(tmp_path, POLICIES[APPROVALS])
    (tmp_path / "allowed_signers").write_text(
        f'alice@example.com namespaces="changegate-approval" {keys["alice"].public_line}\n')
    author = Clone(tmp_path, server, "author")
    author.commit("init", "README.md")
    assert author.push("HEAD:refs/heads/main").code == 0
    change = author.commit("prompt", "prompts/a.txt")
    signed = policy_cli("approve", change, "--key", str(keys["alice"].path), "--ref", "refs/heads/main",
                        "--as", "alice@example.com", cwd=author.path)
    assert signed.returncode == 0, signed.stderr
    created = author.push(APPROVALS, "HEAD:refs/heads/main")  # created with the change it approves
    assert created.code == 0, created.out
    decision = json.loads(server.audit_log.read_text().splitlines()[-1])
    [outcome] = [o for o in decision["outcomes"] if o["rule"] == "changegate-records"]
    assert outcome["status"] == "pass" and outcome["seen"][0].startswith(f"{APPROVALS}: created at")
    # deleting what was just created is a deletion like any other
    assert author.push(f":{APPROVALS}").code != 0


def test_a_case_variant_of_the_records_refs_is_guarded_too(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    """On a server whose file system folds case, refs/notes/CHANGEGATE/approvals is the same file as
    refs/notes/changegate/approvals: such a name is judged as a records ref (doubt denies)."""
    records = Records(tmp_path, APPROVALS, keys)
    variant = "refs/notes/CHANGEGATE/approvals"
    assert records.attacker.push(f"{records.records}:{variant}").code == 0  # creating one is fine
    deleted = records.attacker.push(f":{variant}")
    assert deleted.code != 0 and "[DENY] changegate-records" in deleted.remote, deleted.out
    rewound = records.attacker.push(f"+{records.records}^:{variant}")
    assert rewound.code != 0 and "is not a fast-forward" in rewound.remote, rewound.out

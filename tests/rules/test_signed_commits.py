"""`require: {signed_commits: ...}`: unit cases on described data (MemoryFacts); the real
signatures, made with ssh-keygen keys and gpg and verified by git through real pushes, are in
tests/security/test_signed_commits_push.py."""

from __future__ import annotations

import pytest

from engine.change import Commit, CommitDetails, Signature
from engine.facts.memory import MemoryFacts
from tests.rules._memory import OLD, TREE, outcome

POLICY = """
version: 1
name: signed
trust: {allowed_signers: allowed_signers}
rules:
  - id: signed
    refs: [refs/heads/main]
    require:
      signed_commits: BODY
"""
SIGNERS = {"allowed_signers": b"ann@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n"}
FIRST, SECOND = "1" * 40, "2" * 40


def commits() -> list[Commit]:
    return [Commit(FIRST, TREE, (OLD,), "Ann", "ann@example.com", ()),
            Commit(SECOND, TREE, (FIRST,), "Eve", "eve@example.com", ())]


def judged(first: Signature, second: Signature, body: str = "{}", **facts: object) -> object:
    details = {FIRST: CommitDetails("one\n", first), SECOND: CommitDetails("two\n", second)}
    return outcome(POLICY.replace("BODY", body), commits=commits(), details=details,
                   trusted_files=facts.pop("trusted_files", SIGNERS), **facts)


GOOD = Signature("G", "ssh", "ann@example.com", "SHA256:ann")


def test_every_commit_signed_by_a_trusted_key_passes() -> None:
    found = judged(GOOD, GOOD)
    assert found.status == "pass", found
    assert "2 new commit(s) signed by trusted keys: ann@example.com (2)" in found.message


def test_each_unsigned_or_untrusted_commit_is_named_with_its_author_and_why() -> None:
    cases = {
        Signature("N"): "unsigned",
        Signature("N", "ssh"): "holds nothing git can verify",
        Signature("U", "ssh", "", "SHA256:eve"): "signed by SSH key SHA256:eve, which no line of",
        Signature("B", "ssh", "", "SHA256:eve"): "bad signature",
        Signature("E", "gpg", "", "ABCDEF"): "signed with GPG, which this rule does not accept (ssh)",
        Signature("R", "ssh", "ann@example.com", "SHA256:ann"): "revoked key",
        Signature("G", "ssh", "", "SHA256:ann"): "which no line of",  # good, but no principal: not trusted
        Signature("G", "x509", "CN=eve", "X"): "signed with X.509, which this rule does not accept",
        Signature("N", "unknown"): "signed with an unknown format",
    }
    for signature, why in cases.items():
        found = judged(GOOD, signature)
        assert found.status == "fail", (signature, found)
        assert "1 of 2 new commit(s) not signed by a trusted key" in found.message
        [line] = found.seen
        assert line.startswith(f"commit {SECOND[:10]} on refs/heads/main by Eve <eve@example.com>: "), line
        assert why in line, (signature, line)


def test_gpg_signatures_count_only_when_the_rule_accepts_them() -> None:
    gpg = Signature("G", "gpg", "Ann <ann@example.com>", "93C9")
    body = "{formats: [ssh, gpg], gpg_keyring: keyring.asc}"
    files = {**SIGNERS, "keyring.asc": b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"}
    assert judged(GOOD, gpg, body, trusted_files=files).status == "pass"
    unknown = judged(GOOD, Signature("E", "gpg", "", "93C9"), body, trusted_files=files)
    assert unknown.status == "fail" and "not in the trusted keyring" in unknown.seen[0]


def test_a_missing_trust_file_denies_and_names_it() -> None:
    found = judged(GOOD, GOOD, trusted_files={})
    assert found.status == "fail"
    assert "the allowed signers file allowed_signers does not exist or is empty" in found.message
    keyring = judged(GOOD, GOOD, "{formats: [ssh, gpg], gpg_keyring: keyring.asc}")
    assert keyring.status == "fail" and "the GPG keyring keyring.asc does not exist" in keyring.message


def test_a_commit_without_details_is_denied_not_skipped() -> None:
    found = outcome(POLICY.replace("BODY", "{}"), commits=commits(), details={FIRST: CommitDetails("", GOOD)},
                    trusted_files=SIGNERS)
    assert found.status == "fail"
    assert "could not be read" in found.seen[0] and SECOND[:10] in found.seen[0]


def test_verification_failing_is_an_error_that_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> dict[str, CommitDetails]:
        raise OSError("gpg: not found")

    monkeypatch.setattr(MemoryFacts, "commit_details", broken)
    found = judged(GOOD, GOOD)
    assert found.status == "error" and "signatures could not be verified: gpg: not found" in found.message

"""`require: {evidence}` through the Facts interface: evidence is looked for in the notes on the
judged tree (Facts.notes_on); keys come from the trust domain (Facts.allowed_signers). Signing
and verification are proven with real keys in tests/evidence and tests/attest."""

from __future__ import annotations

from tests.rules._memory import TREE, outcome

POLICY = """\
version: 1
trust: {allowed_signers: allowed_signers}
rules:
  - id: dry-run
    require: {evidence: {type: dry-run, env: staging}}
"""


def test_no_note_on_the_tree_fails_with_the_dry_run_fix() -> None:
    found = outcome(POLICY)
    assert found.status == "fail" and "no acceptable dry-run evidence" in found.message
    assert "policy dry-run" in found.fix and "--env staging" in found.fix


def test_a_note_that_is_not_an_envelope_is_rejected_not_accepted() -> None:
    from engine.attest import parse_allowed_signers

    signers = parse_allowed_signers("", source="allowed_signers")
    found = outcome(POLICY, notes={"evidence": {TREE: [b"not an envelope"]}}, allowed_signers=signers)
    assert found.status == "fail" and "1 candidate(s), none accepted" in "\n".join(found.seen)


def test_without_allowed_signers_nothing_can_be_verified() -> None:
    found = outcome(POLICY, notes={"evidence": {TREE: [b"{}"]}})
    assert found.status == "error" and "evidence cannot be verified" in found.message

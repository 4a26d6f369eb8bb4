"""Signed approval records: the statement, signing one, and verifying one.

A record is an in-toto Statement whose subject is the gitTree of the approved commit,
predicateType `urn:changegate:predicate:approval:v1`, predicate
`{approver, decision, ref, commit, comment, time}`, in a DSSE envelope signed with the
approver's OpenSSH ed25519 key (namespace `changegate-approval`), stored as one line of
the note on that tree in `refs/notes/changegate/approvals`. The approver identity is an
allowed_signers principal: the key must be listed for it.

`cryptography` (through engine.attest) is imported only when a record is signed or checked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine import notes
from engine.approvals import APPROVED, DECISIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.attest import AllowedSigners, Statement
    from engine.git import Git

PREDICATE_TYPE = "urn:changegate:predicate:approval:v1"


def approval_statement(*, tree: str, commit: str, ref: str, approver: str, comment: str = "",
                       decision: str = APPROVED, when: dt.datetime | None = None) -> Statement:
    from engine.attest import Statement, Subject

    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    # to the millisecond: an approver's later record must sort after their earlier one (a tie is a veto)
    moment = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    predicate = {"approver": approver, "decision": decision, "ref": ref, "commit": commit,
                 "comment": comment, "time": stamp}
    return Statement((Subject.git_tree(tree),), PREDICATE_TYPE, predicate)


def sign_approval(git: Git, *, commit: str, ref: str, approver: str, key: str, comment: str = "",
                  decision: str = APPROVED, when: dt.datetime | None = None,
                  passphrase: str | None = None) -> tuple[str, bytes]:
    """Sign a record for `commit`'s tree and add it to the approvals note; (tree, envelope)."""
    from engine.attest import sign_statement

    tree = git.tree_of(commit)
    statement = approval_statement(tree=tree, commit=commit, ref=ref, approver=approver, comment=comment,
                                   decision=decision, when=when)
    envelope = sign_statement(statement, key, passphrase=passphrase)
    notes.add(git, "approvals", tree, envelope)
    return tree, envelope


@dataclass(frozen=True)
class Record:
    """A verified approval record: the signature, the approver's key and the tree binding hold."""

    approver: str
    decision: str
    ref: str
    commit: str
    tree: str
    comment: str
    time: dt.datetime
    fingerprint: str


def verify_record(line: bytes, allowed: AllowedSigners, *, tree: str, now: dt.datetime) -> Record:
    """Check one note line: signed by an allowed key for its approver, bound to `tree`.

    Raises RecordRejected with a stable reason. The ref and freshness are the caller's.
    """
    from engine.attest import NAMESPACE_APPROVAL, EnvelopeRejected, match_pattern_list, verify_envelope

    try:
        verified = verify_envelope(line, allowed, namespace=NAMESPACE_APPROVAL, now=now,
                                   predicate_type=PREDICATE_TYPE)
    except EnvelopeRejected as exc:
        reason = {"bad-signature": "forged-or-tampered"}.get(exc.reason.value, exc.reason.value)
        raise RecordRejected(reason, exc.message) from None
    predicate = verified.statement.predicate
    fields = {k: predicate.get(k) for k in ("approver", "decision", "ref", "commit", "comment", "time")}
    problems = [k for k in ("approver", "decision", "ref", "commit", "time") if not isinstance(fields[k], str)
                or not fields[k]]
    if problems or fields["decision"] not in DECISIONS:
        what = ", ".join(problems) or f"decision {fields['decision']!r}"
        raise RecordRejected("invalid-record", f"signed, but the approval record lacks or misstates: {what}")
    approver = str(fields["approver"])
    try:
        when = dt.datetime.fromisoformat(str(fields["time"]))
    except ValueError:
        raise RecordRejected("invalid-record", f"signed, but its time {fields['time']!r} is not ISO 8601") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    signer = next((s for s in verified.signers if any(match_pattern_list(approver, p) == 1 for p in s.principals)),
                  None)
    if signer is None:
        keys = "; ".join(f"{s.fingerprint} is listed for {', '.join(s.principals)}" for s in verified.signers)
        raise RecordRejected("impersonation", f"the record claims approver {approver!r}, but its key is not "
                                              f"listed for that principal in {allowed.source} ({keys})")
    trees = verified.statement.digests("gitTree")
    if tree not in trees:
        raise RecordRejected("replayed-tree", f"{approver}'s record was signed for tree "
                                              f"{', '.join(t[:10] for t in trees) or '(none)'} but is attached "
                                              f"to tree {tree[:10]}: a copy, not an approval of this tree")
    return Record(approver, str(fields["decision"]), str(fields["ref"]), str(fields["commit"]), tree,
                  str(fields["comment"] or ""), when, signer.fingerprint)


class RecordRejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


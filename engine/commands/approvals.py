"""`policy approvals REV`: who approved what — every record on REV's tree, verified when trust is known."""

from __future__ import annotations

import datetime as dt
import sys

import click

from engine import report
from engine.commands.common import open_repository, resolve_commit
from engine.git import Git
from engine.notes import NOTES_REFS, read_lines
from engine.records.approvals import RecordRejected, verify_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.attest import AllowedSigners


def list_approvals(*, repo: str, rev: str, allowed_signers: str | None, policy_file: str | None,
                   policy_ref: str | None, fmt: str) -> int:
    git = open_repository(repo)
    commit = resolve_commit(git, rev)
    tree = git.tree_of(commit)
    trust = _trust(git, allowed_signers, policy_file, policy_ref)
    notes_commit = git.ref(NOTES_REFS["approvals"])
    lines = read_lines(git, notes_commit, tree) if notes_commit else []
    now = dt.datetime.now(dt.UTC)
    rows = [_row(line, tree, trust, now) for line in lines]
    click.echo(report.render(fmt, report.ApprovalRecords(commit, tree, rows, verified=bool(trust))),
               nl=False)
    return 0


def _trust(git: Git, path: str | None, policy_file: str | None, policy_ref: str | None) -> AllowedSigners | None:
    from engine.attest import AttestError, load_allowed_signers, parse_allowed_signers

    try:
        if path:
            return load_allowed_signers(path)
        if not policy_file and not policy_ref:
            return None
        from engine.policy import PolicyError
        from engine.policy.compile import compile_policy
        from engine.policy.source import resolve

        try:
            source = resolve(git, file=policy_file, ref_spec=policy_ref)
            policy = compile_policy(source.data, source.name)
        except PolicyError as exc:
            raise click.ClickException(f"the policy is invalid: {exc.problems[0] if exc.problems else exc}") from None
        name = (policy.get("trust") or {}).get("allowed_signers")
        data = source.trusted_file(git, name) if name else None
        if data is None:
            raise click.ClickException(f"the policy {source.name} has no readable trust.allowed_signers file")
        return parse_allowed_signers(data.decode("utf-8", "replace"), source=name or "allowed_signers")
    except AttestError as exc:
        raise click.ClickException(str(exc)) from None


def _row(line: bytes, tree: str, trust: AllowedSigners | None, now: dt.datetime) -> dict[str, Any]:
    if trust is not None:
        try:
            record = verify_record(line, trust, tree=tree, now=now)
        except RecordRejected as exc:
            row = _claimed(line)
            row.update(status=exc.reason, reason=exc.message)
            return row
        return {"approver": record.approver, "decision": record.decision, "ref": record.ref,
                "commit": record.commit, "comment": record.comment,
                "time": record.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "key": record.fingerprint,
                "status": "valid", "reason": ""}
    row = _claimed(line)
    row.setdefault("status", "unverified")
    row.setdefault("reason", "")
    return row


def _claimed(line: bytes) -> dict[str, Any]:
    """What a record says about itself, unauthenticated (shown only next to its verdict)."""
    from engine.attest import AttestError, parse_envelope
    from engine.attest.jsonio import strict_loads

    try:
        payload = strict_loads(parse_envelope(line).payload)
        predicate = payload.get("predicate", {}) if isinstance(payload, dict) else {}
        return {k: str(predicate.get(k, "")) for k in ("approver", "decision", "ref", "commit", "comment", "time")}
    except (AttestError, ValueError, AttributeError):
        return {"status": "malformed", "reason": "not a DSSE envelope with an approval statement"}


@click.command("approvals")
@click.argument("rev")
@click.option("--allowed-signers", type=click.Path(exists=True, dir_okay=False),
              help="Verify signatures against this OpenSSH allowed_signers file.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False),
              help="Verify against the policy's trust.allowed_signers.")
@click.option("--policy-ref", help="Policy in a ref, as REF:PATH (its trust file is read from REF).")
@click.option("--format", "fmt", type=click.Choice(report.names()), default="text", show_default=True)
@click.option("--repo", default=".", show_default=True, help="Repository (work tree or bare).")
def command(rev: str, allowed_signers: str | None, policy_file: str | None, policy_ref: str | None,
            fmt: str, repo: str) -> None:
    """List the approval records on REV's tree (fetch refs/notes/changegate/approvals first)."""
    sys.exit(list_approvals(repo=repo, rev=rev, allowed_signers=allowed_signers, policy_file=policy_file,
                            policy_ref=policy_ref, fmt=fmt))

"""`policy approve REV --key KEY [--ref REF] [--comment TEXT]`: sign off on a change without a forge.

Writes a signed approval record for REV's tree and the target ref into the git note
refs/notes/changegate/approvals; the approver then pushes that notes ref.
"""

from __future__ import annotations

import click

from engine import approvals as ap
from engine.commands.common import open_repository, resolve_commit
from engine.git import Git
from engine.notes import NOTES_REFS
from engine.records.approvals import sign_approval


def default_ref(git: Git) -> str | None:
    """The branch origin's HEAD names (refs/heads/X), the usual target of an approval."""
    code, out = git.run_status("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", ok=(0, 1, 128))
    name = out.decode("utf-8", "surrogateescape").strip()
    if code != 0 or not name.startswith("refs/remotes/origin/"):
        return None
    return "refs/heads/" + name.removeprefix("refs/remotes/origin/")


def identity(git: Git) -> str | None:
    code, out = git.run_status("config", "user.email", ok=(0, 1))
    name = out.decode("utf-8", "replace").strip()
    return name if code == 0 and name else None


def approve(*, repo: str, rev: str, key: str, ref: str | None, comment: str, approver: str | None,
            request_changes: bool, passphrase_env: str | None) -> int:
    import os

    from engine.attest import AttestError

    git = open_repository(repo)
    commit = resolve_commit(git, rev)
    target = ref or default_ref(git)
    if target is None:
        raise click.UsageError("give --ref REFNAME: the ref this change may update once approved "
                               "(e.g. refs/heads/main); origin's default branch is not known here")
    if not target.startswith("refs/"):
        raise click.UsageError(f"--ref {target!r} must be a full ref name, e.g. refs/heads/{target}")
    who = approver or identity(git)
    if not who:
        raise click.UsageError("give --as IDENTITY (your principal in the allowed_signers file), "
                               "or set git config user.email")
    if any(c.isspace() or c == "," for c in who):
        raise click.UsageError(f"--as {who!r}: an allowed_signers principal has no spaces or commas")
    passphrase = os.environ.get(passphrase_env) if passphrase_env else None
    decision = ap.CHANGES_REQUESTED if request_changes else ap.APPROVED
    try:
        tree, _ = sign_approval(git, commit=commit, ref=target, approver=who, key=key, comment=comment,
                                decision=decision, passphrase=passphrase)
    except AttestError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "requested changes on" if request_changes else "approved"
    click.echo(f"{who} {verb} commit {commit[:10]} (tree {tree[:10]}) for {target}")
    click.echo(f"publish it: git push origin {NOTES_REFS['approvals']}")
    return 0


@click.command("approve")
@click.argument("rev")
@click.option("--key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Your OpenSSH ed25519 private key (listed in the policy's allowed_signers).")
@click.option("--ref", help="The ref the change may update, e.g. refs/heads/main (default: origin's HEAD).")
@click.option("--comment", default="", help="Why you approve (or what must change).")
@click.option("--as", "approver", help="Your identity: a principal of your key in allowed_signers "
                                       "(default: git config user.email).")
@click.option("--request-changes", is_flag=True, help="Record a veto instead: changes are needed. "
                                                      "A later approval by you lifts it.")
@click.option("--passphrase-env", help="Name of an environment variable holding the key's passphrase.")
@click.option("--repo", default=".", show_default=True, help="Repository (work tree or bare).")
def command(rev: str, key: str, ref: str | None, comment: str, approver: str | None, request_changes: bool,
            passphrase_env: str | None, repo: str) -> None:
    """Sign an approval of REV's tree for a ref, stored in refs/notes/changegate/approvals."""
    import sys

    sys.exit(approve(repo=repo, rev=rev, key=key, ref=ref, comment=comment, approver=approver,
                     request_changes=request_changes, passphrase_env=passphrase_env))

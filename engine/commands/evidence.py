"""`policy evidence create|attach|show|verify`: make, file, read and check dry-run evidence.

Evidence is a DSSE envelope (one JSON line) holding an in-toto Statement v1 about a git tree.
`attach` files it as a line of the note on that tree in refs/notes/changegate/evidence; a
push of that ref (with the branch, or before it) is how it reaches the server's hook.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from engine.change import show as show_safely
from engine.commands.common import open_repository, resolve_commit
from engine.evidence import PREDICATE_DRY_RUN, Accepted, artifact_entry, build_predicate, describe, dry_run_statement
from engine.facts.evidence import envelopes_in
from engine.git import Git, GitError, work_tree
from engine.notes import NOTES_REFS
from engine.records.evidence import claimed_trees, envelope_line, judge_envelope
from engine.times import parse_duration, parse_rfc3339

EXIT_OK, EXIT_REJECTED = 0, 1


class EvidenceInputError(Exception):
    """Something a user handed in (key, metrics, log, envelope) cannot be used; says what to do."""


# --------------------------------------------------------------------------- shared by dry-run

def repository(path: str) -> tuple[Git, str]:
    """The repository at `path` and its work tree's top directory ("" for a bare repository)."""
    return open_repository(path), work_tree(path)


def default_output(git: Git, tree: str) -> str:
    """<git dir>/changegate/evidence/dry-run-<tree>-<UTC time>.json: outside the work tree, so
    writing evidence never changes the tree it is about."""
    import time

    directory = os.path.join(git.git_dir, "changegate", "evidence")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"dry-run-{tree[:12]}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")


def load_metrics(path: str) -> dict[str, Any]:
    from engine.attest.jsonio import strict_loads

    try:
        with open(path, "rb") as f:
            value = strict_loads(f.read())
    except OSError as exc:
        raise EvidenceInputError(f"cannot read metrics file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise EvidenceInputError(f"metrics file {path} is {exc}") from None
    if not isinstance(value, dict):
        raise EvidenceInputError(f"metrics file {path} holds a JSON {type(value).__name__}, not an object")
    return value


def sign_evidence(tree: str, predicate: dict[str, Any], key: str) -> bytes:
    from engine.attest import AttestError, sign_statement

    try:
        return sign_statement(dry_run_statement(tree, predicate), key)
    except AttestError as exc:
        raise click.UsageError(str(exc)) from None


def attach_envelope(git: Git, envelope: bytes) -> list[str]:
    """File the envelope as a note line on each tree it claims; skip trees that already hold it.

    Where a note is filed is not trusted (the signed subject is what a judge checks), so the
    claim is read without verifying the signature here.
    """
    from engine import notes
    from engine.attest import AttestError

    try:
        line = envelope_line(envelope)
        trees = claimed_trees(envelope)
    except AttestError as exc:
        raise EvidenceInputError(f"not evidence: {exc}") from None
    if not trees:
        raise EvidenceInputError("the statement has no gitTree subject: there is no tree to attach it to")
    attached = []
    notes_ref = git.ref(NOTES_REFS["evidence"])
    for tree in trees:
        existing = notes.read_lines(git, notes_ref, tree) if notes_ref else []
        if line in existing:
            continue
        try:
            notes.add(git, "evidence", tree, line)
        except GitError as exc:
            raise EvidenceInputError(f"cannot attach to tree {tree[:12]}: {exc} (fetch the commit first)") from None
        attached.append(tree)
    return attached


# --------------------------------------------------------------------------- create

def create(*, cmd: Sequence[str], key: str, rev: str, repo: str, env: str | None, exit_code: int | None,
           result: str | None, log: str, started: str | None, finished: str | None, metrics: str | None,
           artifacts: Sequence[str], output: str | None, attach: bool) -> int:
    import hashlib
    import time

    git, _ = repository(repo)
    commit = resolve_commit(git, rev, "--rev")
    if exit_code is None and result is None:
        raise click.UsageError("give --exit-code N (0 means passed) or --result passed|failed")
    if exit_code is not None and result is not None and (exit_code == 0) != (result == "passed"):
        raise click.UsageError(f"--result {result} contradicts --exit-code {exit_code}")
    end = _time(finished, "--finished") if finished else time.time()
    start = _time(started, "--started") if started else end
    if start > end:
        raise click.UsageError("--started is after --finished")
    try:
        with open(log, "rb") as f:
            data = f.read()
        predicate = build_predicate(
            command=cmd, env=env, commit=commit, exit_code=exit_code if exit_code is not None else
            (0 if result == "passed" else 1), started=start, finished=end,
            log_sha256=hashlib.sha256(data).hexdigest(), log_size=len(data),
            metrics=load_metrics(metrics) if metrics else None,
            artifacts=[artifact_entry(path) for path in artifacts], result=result)
    except OSError as exc:
        raise click.UsageError(f"cannot read {exc.filename}: {exc.strerror}") from None
    except EvidenceInputError as exc:
        raise click.UsageError(str(exc)) from None
    tree = git.tree_of(commit)
    envelope = sign_evidence(tree, predicate, key)
    if output and output != "-":
        with open(output, "wb") as f:
            f.write(envelope + b"\n")
        click.echo(f"evidence for tree {tree[:12]} ({predicate['result']}) written to {output}", err=True)
    else:
        click.echo(envelope.decode())
    if attach:
        _attach_or_fail(git, envelope)
    return EXIT_OK


def _time(text: str, flag: str) -> float:
    value = parse_rfc3339(text)
    if value is None:
        raise click.UsageError(f"{flag} {text!r} is not an ISO 8601 time with a zone (e.g. 2026-06-01T12:00:00Z)")
    return value


def _attach_or_fail(git: Git, envelope: bytes) -> None:
    try:
        trees = attach_envelope(git, envelope)
    except EvidenceInputError as exc:
        raise click.UsageError(str(exc)) from None
    if trees:
        click.echo(f"attached to tree {', '.join(t[:12] for t in trees)} in {NOTES_REFS['evidence']}; "
                   f"push it: git push origin {NOTES_REFS['evidence']}", err=True)
    else:
        click.echo("already attached (the note holds this envelope)", err=True)


# --------------------------------------------------------------------------- attach, show, verify

def attach(*, files: Sequence[str], repo: str) -> int:
    git, _ = repository(repo)
    for source, envelope in _read_files(files):
        click.echo(f"{source}:", err=True)
        _attach_or_fail(git, envelope)
    return EXIT_OK


def _read_files(files: Sequence[str]) -> list[tuple[str, bytes]]:
    found = []
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None
        envelopes = envelopes_in(data)
        if not envelopes:
            raise click.UsageError(f"{path} holds no evidence")
        found += [(f"file {path}" if len(envelopes) == 1 else f"file {path}, line {n}", raw) for n, raw in envelopes]
    return found


def _candidates(files: Sequence[str], repo: str, rev: str | None) -> tuple[list[tuple[str, bytes]], str | None]:
    """Envelopes from FILES, or from the note on REV's tree; and the tree to bind to (if any)."""
    if files and rev is None:
        return _read_files(files), None
    git, _ = repository(repo)
    commit = resolve_commit(git, rev or "HEAD", "--rev")
    tree = git.tree_of(commit)
    if files:
        return _read_files(files), tree
    from engine import notes

    notes_ref = git.ref(NOTES_REFS["evidence"])
    lines = notes.read_lines(git, notes_ref, tree) if notes_ref else []
    return [(f"note on tree {tree[:12]}" + (f" (line {n})" if len(lines) > 1 else ""), line)
            for n, line in enumerate(lines, start=1)], tree


def show(*, files: Sequence[str], repo: str, rev: str | None, as_json: bool) -> int:
    import json

    from engine.attest import AttestError, parse_envelope, parse_statement

    candidates, tree = _candidates(files, repo, rev)
    if not candidates:
        click.echo(f"no evidence note on tree {tree[:12] if tree else '?'} in {NOTES_REFS['evidence']} "
                   "(fetch it: git fetch origin refs/notes/changegate/evidence:refs/notes/changegate/evidence)")
        return EXIT_REJECTED
    documents = []
    for source, raw in candidates:
        try:
            envelope = parse_envelope(raw)
            statement = parse_statement(envelope.payload)
        except AttestError as exc:
            click.echo(f"{source}: not readable evidence: {exc}")
            continue
        if as_json:
            documents.append({"source": source, "payloadType": envelope.payload_type,
                              "keyids": [s.keyid for s in envelope.signatures], "statement": statement.to_dict()})
            continue
        click.echo(f"{source}  (signatures NOT verified here: use `policy evidence verify`)")
        click.echo(f"  type:      {statement.predicate_type}"
                   + ("" if statement.predicate_type == PREDICATE_DRY_RUN else "  (not a dry run)"))
        for subject in statement.subjects:
            click.echo(f"  subject:   {subject.name or '-'} " + " ".join(f"{k}:{v}" for k, v in subject.digest.items()))
        click.echo("  signed by: " + ", ".join(s.keyid or "(no keyid)" for s in envelope.signatures))
        for line in describe(statement.predicate, now=_now()):
            click.echo(f"  {show_safely(line)}")
    if as_json:
        click.echo(json.dumps(documents, indent=2, sort_keys=True))
    return EXIT_OK


def verify(*, files: Sequence[str], repo: str, rev: str | None, allowed_signers: str,
           signers: Sequence[str], env: str | None, result: str, max_age: str | None, now: str | None) -> int:
    from engine.attest import AttestError, load_allowed_signers

    try:
        allowed = load_allowed_signers(allowed_signers)
    except AttestError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        age = parse_duration(max_age) if max_age else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    moment = _now() if now is None else _time_or_epoch(now)
    candidates, tree = _candidates(files, repo, rev)
    if not candidates:
        click.echo(f"REJECTED: no evidence note on tree {tree[:12] if tree else '?'}")
        return EXIT_REJECTED
    accepted = 0
    for source, raw in candidates:
        verdict = judge_envelope(raw, source, allowed=allowed, now=moment, tree=tree,
                                 result=None if result == "any" else result, env=env, max_age=age,
                                 signers=list(signers) or None)
        if isinstance(verdict, Accepted):
            accepted += 1
            p = verdict.predicate
            click.echo(f"ACCEPTED {source}: tree {verdict.tree[:12]}, {p['result']}"
                       + (f" in {show_safely(str(p['env']))}" if "env" in p else "")
                       + f", finished {p['finishedOn']}, signed by {', '.join(verdict.signers) or '?'}")
        else:
            click.echo(f"REJECTED {source}: {verdict.reason}: {show_safely(verdict.detail)}")
    return EXIT_OK if accepted else EXIT_REJECTED


def _now() -> float:
    import time

    return time.time()


def _time_or_epoch(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return _time(text, "--now")


# --------------------------------------------------------------------------- click wiring

@click.group("evidence")
def command() -> None:
    """Dry-run evidence: create it from a result, attach it as a git note, show it, verify it."""


@command.command("create")
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="OpenSSH ed25519 signing key.")
@click.option("--rev", default="HEAD", show_default=True, help="Commit whose tree the dry run ran.")
@click.option("--repo", default=".", show_default=True)
@click.option("--env", help="Environment the dry run ran in.")
@click.option("--exit-code", type=int, help="The dry run's exit status (0: passed).")
@click.option("--result", type=click.Choice(["passed", "failed"]), help="The result, if no exit code is known.")
@click.option("--log", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The dry run's captured output (its sha256 is recorded).")
@click.option("--started", help="Start time, ISO 8601 with a zone (default: --finished).")
@click.option("--finished", help="End time, ISO 8601 with a zone (default: now).")
@click.option("--metrics", type=click.Path(exists=True, dir_okay=False), help="JSON object of metrics.")
@click.option("--artifact", "artifacts", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="File whose sha256 to record (an LFS pointer records its oid). Repeatable.")
@click.option("-o", "--output", help="Write the evidence here (default: standard output).")
@click.option("--attach", is_flag=True, help="Also attach it as a note on the tree.")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def create_command(cmd: tuple[str, ...], **options: Any) -> None:
    """Sign evidence for a dry run that already ran; CMD (after --) is the command it ran."""
    sys.exit(create(cmd=cmd, **options))


@command.command("attach")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--repo", default=".", show_default=True)
def attach_command(files: tuple[str, ...], repo: str) -> None:
    """Attach evidence FILES as notes on the trees they are about (refs/notes/changegate/evidence)."""
    sys.exit(attach(files=files, repo=repo))


@command.command("show")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--rev", help="Show the evidence notes on this commit's tree (default without FILES: HEAD).")
@click.option("--repo", default=".", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the decoded statements as JSON.")
def show_command(files: tuple[str, ...], rev: str | None, repo: str, as_json: bool) -> None:
    """Show evidence readably (from FILES, or the notes on a commit's tree). Does not verify."""
    sys.exit(show(files=files, repo=repo, rev=rev, as_json=as_json))


@command.command("verify")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--allowed-signers", required=True, type=click.Path(exists=True, dir_okay=False),
              help="OpenSSH allowed_signers file: who may sign evidence.")
@click.option("--signer", "signers", multiple=True, help="Require one of these principals. Repeatable.")
@click.option("--rev", help="Require the evidence to be for this commit's tree (default without FILES: HEAD).")
@click.option("--repo", default=".", show_default=True)
@click.option("--env", help="Require this environment.")
@click.option("--result", type=click.Choice(["passed", "failed", "any"]), default="any", show_default=True)
@click.option("--max-age", help="Require it to be at most this old (7d, 1h30m).")
@click.option("--now", help="Judge as of this time (epoch seconds or ISO 8601).")
def verify_command(files: tuple[str, ...], **options: Any) -> None:
    """Verify evidence (FILES, or the notes on a commit's tree): exit 0 if any is accepted, 1 if none."""
    sys.exit(verify(files=files, **options))

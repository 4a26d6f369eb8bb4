"""`policy dry-run --key KEY [--env NAME] -- CMD ARGS...`: run a dry run, stream its output,
and write signed evidence bound to HEAD's tree. Exits with the command's exit status."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence

import click

from engine.commands.evidence import (
    EvidenceInputError,
    attach_envelope,
    default_output,
    load_metrics,
    repository,
    sign_evidence,
)
from engine.evidence import artifact_entry, build_predicate


def dry_run(*, cmd: Sequence[str], key: str, env: str | None, repo: str, metrics: str | None,
            artifacts: Sequence[str], output: str | None, log: str | None, attach: bool) -> int:
    git, top = repository(repo)
    if not top:
        raise click.UsageError(f"{repo} has no work tree: run the dry run in a checkout of the commit to attest")
    commit = git.resolve("HEAD")
    if commit is None:
        raise click.UsageError(f"{top} has no commit yet: evidence is bound to HEAD's tree, so commit first")
    dirty = git.run(f"--work-tree={top}", "status", "--porcelain", "-z", "--untracked-files=no")
    if dirty:
        raise click.UsageError(
            "the work tree has uncommitted changes to tracked files, so the dry run would not run "
            "HEAD's tree: commit or stash them first (evidence is bound to HEAD's tree)")
    tree = git.tree_of(commit)
    try:
        _check_key(key)
        entries = [artifact_entry(path) for path in artifacts]
    except (OSError, EvidenceInputError) as exc:
        raise click.UsageError(str(exc)) from None
    output = output or default_output(git, tree)
    log = log or os.path.splitext(output)[0] + ".log"
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)

    click.echo(f"changegate: dry run of tree {tree[:12]} (commit {commit[:12]})"
               + (f" in {env}" if env else "") + f": {shlex.join(cmd)}", err=True)
    started = time.time()
    code, signal, sha256, size = _run(cmd, log)
    finished = time.time()
    try:
        metrics_value = load_metrics(metrics) if metrics else None
    except EvidenceInputError as exc:
        click.echo(f"changegate: {exc}; evidence is written without metrics", err=True)
        metrics_value = None
    predicate = build_predicate(command=cmd, env=env, commit=commit, exit_code=code, started=started,
                                finished=finished, log_sha256=sha256, log_size=size, metrics=metrics_value,
                                artifacts=entries, signal=signal)
    envelope = sign_evidence(tree, predicate, key)
    with open(output, "wb") as f:
        f.write(envelope + b"\n")
    click.echo(f"changegate: dry run {predicate['result']} (exit code {code}) in "
               f"{predicate['durationSeconds']}s; evidence: {output}; log: {log}", err=True)
    if attach:
        attach_envelope(git, envelope)
        click.echo(f"changegate: attached to tree {tree[:12]} in refs/notes/changegate/evidence; "
                   "push it with: git push origin refs/notes/changegate/evidence", err=True)
    return code


def _check_key(key: str) -> None:
    """Fail before the command runs, not after a long dry run."""
    from engine.attest import AttestError, load_signing_key

    try:
        load_signing_key(key)
    except AttestError as exc:
        raise EvidenceInputError(str(exc)) from None


def _run(cmd: Sequence[str], log_path: str) -> tuple[int, int | None, str, int]:
    """Run `cmd`, streaming its output (stdout and stderr, merged) to our stdout and the log.

    Returns (exit status as a shell reports it, terminating signal or None, log sha256, log size).
    """
    import hashlib
    import subprocess

    digest, size = hashlib.sha256(), 0
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            message = f"changegate: cannot run {cmd[0]!r}: {exc.strerror}\n".encode()
            sys.stderr.buffer.write(message)
            log.write(message)
            digest.update(message)
            return (127 if isinstance(exc, FileNotFoundError) else 126), None, digest.hexdigest(), len(message)
        assert proc.stdout is not None
        pipe, out = proc.stdout.fileno(), sys.stdout.buffer
        try:
            for chunk in iter(lambda: os.read(pipe, 1 << 16), b""):
                out.write(chunk)
                out.flush()
                log.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        finally:
            returncode = proc.wait()
    if returncode < 0:
        return 128 - returncode, -returncode, digest.hexdigest(), size
    return returncode, None, digest.hexdigest(), size


@click.command("dry-run", context_settings={"allow_interspersed_args": False})
@click.option("--key", required=True, type=click.Path(dir_okay=False),
              help="OpenSSH ed25519 private key that signs the evidence.")
@click.option("--env", help="Name of the environment the dry run ran in (e.g. staging).")
@click.option("--repo", default=".", show_default=True, help="Repository whose HEAD tree is attested.")
@click.option("--metrics", type=click.Path(dir_okay=False),
              help="JSON file of metrics the command wrote, recorded in the evidence (read after it ran).")
@click.option("--artifact", "artifacts", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="File whose sha256 to record (model weights; an LFS pointer records its oid). Repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write the evidence (default: <git dir>/changegate/evidence/).")
@click.option("--log", type=click.Path(dir_okay=False),
              help="Where to write the captured output (default: beside --output).")
@click.option("--attach", is_flag=True,
              help="Also attach the evidence as a note on the tree (refs/notes/changegate/evidence).")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def command(cmd: tuple[str, ...], **options: object) -> None:
    """Run CMD (after --) as a dry run and write signed evidence for HEAD's tree.

    Example: policy dry-run --key ci_key --env staging --attach --
    docker exec dry-run-env python run_model.py --dry-run
    """
    sys.exit(dry_run(cmd=cmd, **options))  # type: ignore[arg-type]

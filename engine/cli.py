"""The `policy` command: click wiring only; each command's work lives in engine/commands/."""

from __future__ import annotations

import importlib
import sys

import click

from engine import __version__, report
from engine.change import STAGES
from engine.servers import KINDS as SERVER_KINDS


def _exit(code: int) -> None:
    sys.exit(code)


# Commands that live in their own module (engine/commands/<module>.py exposing `command`),
# imported only when used so `policy --version` or a hook never pays for them.
LAZY: dict[str, str] = {
    "dry-run": "engine.commands.dry_run",
    "evidence": "engine.commands.evidence",
    "approve": "engine.commands.approve",
    "approvals": "engine.commands.approvals",
    "rollback-check": "engine.commands.rollback_check",
    "action": "engine.commands.action",
    "replay": "engine.commands.replay",
    "test": "engine.commands.test",
    "pre-push": "engine.commands.pre_push",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        from importlib.util import find_spec

        return sorted([*super().list_commands(ctx), *(n for n, m in LAZY.items() if find_spec(m))])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.list_commands(ctx) and name in LAZY:
            command: click.Command = importlib.import_module(LAZY[name]).command
            return command
        return super().get_command(ctx, name)


def parse_time(value: str | None) -> float | None:
    """--now: seconds since the epoch or an ISO 8601 time (for reproducible decisions)."""
    if value is None:
        return None
    from engine.times import parse_moment

    try:
        return parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="changegate")
def cli() -> None:
    """changegate: decide whether a change to an LLM/ML system may be pushed, merged and deployed."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check policy FILES against the schema and semantic rules (exit 0 valid, 2 invalid)."""
    from engine.commands.validate import validate as run

    _exit(run(files))


@cli.command()
@click.option("--repo", default=".", show_default=True, help="Repository (work tree or bare).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy file.")
@click.option("--policy-ref", help="Policy in a ref, as REF:PATH (its current value).")
@click.option("--ref", help="Ref being updated, e.g. refs/heads/main.")
@click.option("--old", help="Old value (default: the ref's current value; zero id: creation).")
@click.option("--new", help="New value (a revision; zero id: deletion).")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read pre-receive lines '<old> <new> <ref>' from stdin.")
@click.option("--stage", type=click.Choice(STAGES), default="push", show_default=True)
@click.option("--format", "fmt", type=click.Choice(report.names()), default="text", show_default=True)
@click.option("--actor", help="Who is pushing (default: from the server environment, else the local user).")
@click.option("--known-ref", "known_refs", multiple=True,
              help="Ref patterns whose commits count as already on the server (default: in a work tree, "
                   "the push remote's tracking refs, else the ref's old value; in a bare repository, all refs).")
@click.option("--audit-log", type=click.Path(dir_okay=False), help="Append the decision to this JSON-lines file.")
@click.option("--evidence", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Evidence envelope file(s), e.g. a CI artifact, in addition to evidence notes.")
@click.option("--artifact", "artifacts", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="File(s) being deployed; at --stage deploy their digests must match accepted evidence.")
@click.option("--github-pr", help="Read approvals and files from this pull request: OWNER/REPO#NUMBER.")
@click.option("--now", help="Judge as of this time (epoch seconds or ISO 8601), for reproducible decisions.")
@click.option("--bypass", metavar="REASON",
              help="Ask to bypass the rules that deny, as a push would with -o changegate.bypass=REASON "
                   "(granted only to the policy's bypass.actors).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="Also write the decision page (one self-contained HTML file, with plots) here.")
def check(**options: object) -> None:
    """Judge a ref update (or pre-receive lines) by a policy. Exit 0 allowed, 1 denied, 2 invalid, 3 error."""
    from engine.commands.check import check as run

    if options["from_stdin"] and (options["ref"] or options["new"]):
        raise click.UsageError("--stdin reads ref updates from standard input; do not combine it with --ref/--new")
    options["now"] = parse_time(options["now"])  # type: ignore[arg-type]
    _exit(run(**options))  # type: ignore[arg-type]


@cli.group()
def hook() -> None:
    """Install the server-side git hook."""


@hook.command("install")
@click.option("--repo", required=True, help="The (bare) repository to protect.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False),
              help="Administrator-owned policy file on the server.")
@click.option("--policy-ref", help="Judge by the file at PATH in REF's current value, as REF:PATH.")
@click.option("--force", is_flag=True, help="Replace a pre-receive hook changegate did not write (kept as a backup).")
@click.option("--server", type=click.Choice(SERVER_KINDS),
              help="The git server that runs the hook; only its pusher variable is then read "
                   "(default: detected from each server's own variables; several at once reject the push).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              metavar="SECONDS", help="Reject a push whose check takes longer (GitHub Enterprise Server gives "
                                      "all pre-receive hooks 5 s together).")
def hook_install(repo: str, policy_file: str | None, policy_ref: str | None, force: bool,
                 server: str | None, time_budget: float) -> None:
    """Install the pre-receive hook into REPO."""
    from engine.commands.hook import install

    _exit(install(repo=repo, policy_file=policy_file, policy_ref=policy_ref, force=force, server=server,
                  time_budget=time_budget))


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the demo directory instead of deleting it.")
@click.option("--html", "page", type=click.Path(dir_okay=False),
              help="Where to write the last step's decision page (default: changegate-demo-decision.html in the "
                   "temporary directory).")
def demo(keep: bool, page: str | None) -> None:
    """Run a local demo: a bare repository with the hook, and pushes it accepts and rejects."""
    from engine.commands.demo import demo as run

    _exit(run(keep=keep, page=page))


def main() -> None:
    """Entry point: expected errors exit 1/2 with a message; unexpected ones exit 3, never a traceback."""
    from engine.git import GitError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except GitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: a message, never a traceback
        click.echo(f"internal error: {type(exc).__name__}: {exc} (please report it)", err=True)
        sys.exit(3)

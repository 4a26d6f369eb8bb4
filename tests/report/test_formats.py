"""The registry of output formats: every `--format` offers exactly the registered formats, and every
registered format renders everything a command reports."""

from __future__ import annotations

import json

import click
import pytest

from engine import report
from engine.change import Actor, RefUpdate
from engine.cli import cli
from engine.decision import Decision, Outcome


def commands(group: click.Group, ctx: click.Context) -> dict[str, click.Command]:
    """Every command of the CLI by its full name, subcommands of groups included (lazy ones loaded)."""
    found: dict[str, click.Command] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found.update({f"{name} {sub}": c for sub, c in commands(command, ctx).items()})
        else:
            found[name] = command
    return found


def test_every_format_option_offers_exactly_the_registered_formats() -> None:
    with click.Context(cli) as ctx:
        every = commands(cli, ctx)
    offered = {name: param.type for name, command in every.items() for param in command.params
               if isinstance(param, click.Option) and "--format" in param.opts}
    assert {"check", "rollback-check", "approvals"} <= set(offered)
    for own in ("test", "replay"):  # test results and a replay summary (text or json), not one decision
        offered.pop(own)
    for name, choice in offered.items():
        assert isinstance(choice, click.Choice), name
        assert list(choice.choices) == report.names(), name


DECISION = Decision("canary", "sha256:ab", "deploy", Actor("", "cli", "rollback-check"),
                    (RefUpdate("0" * 40, "0" * 40, b"refs/heads/main"),),
                    (Outcome("canary-errors", "fail", "0.1 is not below 0.05", ("x = 0.1",), "below 0.05", "roll back"),
                     Outcome("merge-only", "skip", "not judged at stage deploy")))
SUBJECTS: dict[str, report.Report] = {
    "decision": DECISION,
    "measurement": report.Measurement(1, 3, 1_700_000_000.0, DECISION),
    "rollback": report.Rollback("rollback", 1, 1, 1, 1, "1 of 1 measurement(s) failed (limit 1): roll back",
                                "canary", "sha256:ab"),
    "approvals": report.ApprovalRecords("c" * 40, "t" * 40, [
        {"approver": "alice@example.com", "decision": "approved", "ref": "refs/heads/main", "commit": "c" * 40,
         "comment": "", "time": "2026-01-01T00:00:00Z", "key": "SHA256:k", "status": "valid", "reason": ""}],
        verified=True),
}


@pytest.mark.parametrize("fmt", report.names())
@pytest.mark.parametrize("kind", SUBJECTS)
def test_every_format_renders_every_subject(fmt: str, kind: str) -> None:
    text = report.render(fmt, SUBJECTS[kind])
    assert text.endswith("\n") and text.strip()
    if fmt == "json":
        json.loads(text)


def test_json_outcomes_are_the_same_wherever_a_decision_is_written() -> None:
    from engine.audit import record
    from engine.report.json_report import as_dict

    measured = json.loads(report.render("json", SUBJECTS["measurement"]))
    assert measured["outcomes"] == as_dict(DECISION)["outcomes"]
    assert record(DECISION, exit_code=1, policy_source="p.yml")["outcomes"] == as_dict(DECISION)["outcomes"]

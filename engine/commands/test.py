"""`policy test [PATH...]`: run the policy tests beside a policy, offline, like a test runner.

Exit 0 when every case passes, 1 when one fails, 2 for a test file or policy that cannot be
used (file:line:col problems) or a PATH without tests, 3 for an unexpected error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from engine.decision import EXIT_ALLOWED, EXIT_DENIED, EXIT_INVALID
from engine.policy import PolicyError
from engine.policytest.run import CaseResult, Report, run


def test(paths: list[str], *, fmt: str, verbose: bool) -> int:
    try:
        report = run(paths)
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        return EXIT_INVALID
    except LookupError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_INVALID
    click.echo(render_json(report) if fmt == "json" else render_text(report, verbose=verbose), nl=False)
    return EXIT_ALLOWED if report.failed == 0 else EXIT_DENIED


def render_text(report: Report, *, verbose: bool = False) -> str:
    """A line per failing case (where, which case), an indented line per difference with the
    rule's explanation, then the counts."""
    lines = []
    for result in report.results:
        if result.passed:
            if verbose:
                lines.append(f"PASS {result.file}:{result.line}: {result.name}")
            continue
        lines.append(f"FAIL {result.file}:{result.line}: {result.name}")
        lines += [f"  {difference.describe()}" for difference in result.differences]
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps({"passed": report.passed, "failed": report.failed,
                       "cases": [_case(r) for r in report.results]}, indent=2) + "\n"


def _case(result: CaseResult) -> dict[str, Any]:
    decision = result.decision
    return {
        "file": result.file, "line": result.line, "name": result.name, "policy": result.policy,
        "passed": result.passed,
        "decision": None if decision is None else ("allow" if decision.allowed else "deny"),
        "differences": [{"what": "decision" if d.rule is None else "rule", "rule": d.rule, "expected": d.expected,
                         "actual": d.actual, "message": d.message, "line": d.line} for d in result.differences],
        "outcomes": [] if decision is None else [
            {"rule": o.rule, "status": o.status, "message": o.message} for o in decision.outcomes],
    }


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
def command(paths: tuple[str, ...], fmt: str, verbose: bool) -> None:
    """Run policy tests: the cases in NAME.tests.yml beside NAME.yml (or a tests/ folder), judged
    offline by the real engine. PATH: a test file, a policy, or a directory (default: .).
    Exit 0 all pass, 1 a case failed, 2 invalid tests or policy, 3 error."""
    sys.exit(test(list(paths) or ["."], fmt=fmt, verbose=verbose))

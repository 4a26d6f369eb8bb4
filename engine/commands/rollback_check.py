"""`policy rollback-check`: after a deploy, keep it or roll it back, judged by the policy's
threshold and alerts rules (those that run at stage deploy). No git repository needed.

Exit codes (for a CD pipeline): 0 keep, 1 roll back, 2 invalid policy or usage (also: the
policy has no threshold or alerts rule for deploy, so there is nothing to judge), 3 an
unexpected error (a rule crashed): neither keep nor roll back is proven.

A measurement judges every such rule once: it is a judgement (engine.judge) at stage deploy
of no change (engine/facts/measurement.py), with `--ref` naming the ref deployed so that
rules with `refs:` apply only to theirs. It fails when an enforced rule fails, or
errors with `on_error: deny` (the default): a canary whose health cannot be read is not
kept silently. `on_error: warn` or `allow` keeps it (with a warning). With `--watch`, up to
`--count` measurements are taken `--interval` apart; the deploy is rolled back as soon as
`--failure-limit` of them have failed (default 1), and kept when all were taken with
fewer failures. Each measurement is printed as it is taken (text, or one JSON object per
line with `--format json`, then a final `{"type": "decision", ...}` line).

`--now TIME` replays history instead: measurement k is judged at TIME + k * interval,
without waiting (reproducible; "would this policy have rolled back last night?").
"""

from __future__ import annotations

import os
import time

import click

from engine import report
from engine.decision import EXIT_ALLOWED, EXIT_DENIED, EXIT_INTERNAL, EXIT_INVALID, Decision


def rollback_check(*, policy_file: str, watch: bool, interval: float, count: int, failure_limit: int,
                   now: float | None, ref: str | None, fmt: str, html_file: str | None = None) -> int:
    from engine.facts.measurement import MeasurementFacts
    from engine.judge import judge
    from engine.policy import PolicyError
    from engine.policy.compile import compile_policy
    from engine.policy.source import from_file
    from engine.report.sinks import deliver

    try:
        source = from_file(policy_file)
        compiled = compile_policy(source.data, source.name)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        return EXIT_INVALID
    total = count if watch else 1
    failures = taken = 0
    taken_list: list[report.Measurement] = []

    def _finish(fmt: str, decision: Decision, verdict: str, code: int, taken: int, failures: int,
                limit: int, summary: str) -> int:
        final = report.Rollback(verdict, code, taken, failures, limit, summary, decision.policy,
                                decision.policy_digest)
        click.echo(report.render(fmt, final), nl=False)
        if html_file:
            from engine.commands.check import write_page
            from engine.report.html import page

            return write_page(html_file, page(decision, measurements=taken_list, rollback=final)) or code
        return code

    environ = dict(os.environ)  # read once: credentials the policy's sources name
    for index in range(total):
        at = time.time() if now is None else now + index * interval
        facts = MeasurementFacts(compiled, source, now=at, ref=ref, environ=environ)
        decision = _applied(deliver(judge(compiled, facts)))
        if not decision.outcomes:  # found before anything is measured: no rule applies to this deploy
            scope = f" that applies to {ref}" if ref else ""
            click.echo(f"error: {policy_file} has no threshold or alerts rule judged at stage deploy{scope}; "
                       "nothing to judge. Add one (require: {threshold: ...} or {alerts: ...}, on: [deploy]).",
                       err=True)
            return EXIT_INVALID
        measurement = report.Measurement(index + 1, total, at, decision)
        taken_list.append(measurement)
        taken += 1
        failures += measurement.failed
        click.echo(report.render(fmt, measurement), nl=False)
        if decision.crashed:
            return _finish(fmt, decision, "error", EXIT_INTERNAL, taken, failures, failure_limit,
                           f"rule(s) {', '.join(decision.crashed)} could not be evaluated; neither keeping nor "
                           "rolling back is proven")
        if failures >= failure_limit:
            return _finish(fmt, decision, "rollback", EXIT_DENIED, taken, failures, failure_limit,
                           f"{failures} of {taken} measurement(s) failed (limit {failure_limit}): roll back")
        if index + 1 < total and now is None:
            time.sleep(interval)
    return _finish(fmt, decision, "keep", EXIT_ALLOWED, taken, failures, failure_limit,
                   f"{failures} of {taken} measurement(s) failed (limit {failure_limit}): keep the deploy")


def _applied(decision: Decision) -> Decision:
    """The outcomes of the rules that apply to this deploy: a rule at another stage, or for
    another ref, is not part of what is measured (nor listed)."""
    return decision._replace(outcomes=tuple(o for o in decision.outcomes if o.status != "skip"))


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from engine.times import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0s")
    return seconds


@click.command("rollback-check")
@click.option("--policy", "policy_file", required=True, type=click.Path(dir_okay=False),
              help="Policy file; its threshold and alerts rules for stage deploy are judged.")
@click.option("--watch", is_flag=True, help="Take several measurements (--count, --interval) instead of one.")
@click.option("--interval", callback=_duration, help="Time between measurements with --watch (default 30s).")
@click.option("--count", type=click.IntRange(min=1), help="Measurements to take with --watch (default 10).")
@click.option("--failure-limit", type=click.IntRange(min=1), default=1, show_default=True,
              help="Roll back as soon as this many measurements have failed.")
@click.option("--ref", help="Judge only rules whose refs: match this ref (rules without refs: always apply).")
@click.option("--now", "now_text", help="Replay: judge at this time (epoch seconds or ISO 8601), then at "
                                        "+interval steps, without waiting.")
@click.option("--format", "fmt", type=click.Choice(report.names()), default="text", show_default=True,
              help="json: one object per measurement per line, then a decision line.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="Also write the decision page here when the check ends: the verdict, every measurement, and the "
                   "last one's rules with plots of each threshold's window (e.g. beside the JSON: decision.html).")
def command(policy_file: str, watch: bool, interval: float | None, count: int | None, failure_limit: int,
            ref: str | None, now_text: str | None, fmt: str, html_file: str | None) -> None:
    """After a deploy: exit 0 keep, 1 roll back, 2 invalid policy or usage, 3 error."""
    import sys

    from engine.cli import parse_time

    if not watch and (interval is not None or count is not None):
        raise click.UsageError("--interval and --count take effect only with --watch")
    count = 10 if count is None else count
    if failure_limit > (count if watch else 1):
        raise click.UsageError(f"--failure-limit {failure_limit} can never be reached with "
                               f"{count if watch else 1} measurement(s)")
    sys.exit(rollback_check(policy_file=policy_file, watch=watch, interval=30.0 if interval is None else interval,
                            count=count, failure_limit=failure_limit, now=parse_time(now_text), ref=ref, fmt=fmt,
                            html_file=html_file))

"""`policy action`: the GitHub Action step. Judge a pull request (or merge-queue / push event)
by the policy of its BASE branch and report a check run, a job summary and annotations.

A pull request can never weaken the policy that judges it: the policy and its trust
files are read from the base commit; a PR that edits them is judged by the old ones
and flagged. PR code is fetched as data (git objects) and never checked out or run.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from engine.change import Actor, Change, Inputs, RefUpdate
from engine.decision import EXIT_DENIED, EXIT_INTERNAL, EXIT_INVALID, Decision, Outcome
from engine.git import Git, GitError
from engine.policy import PolicyError, Problem

if TYPE_CHECKING:
    from engine.change import Stage

PR_EVENTS = ("pull_request", "pull_request_target", "pull_request_review")


class Event(NamedTuple):
    """What changegate needs of a GitHub event."""

    name: str
    repository: str  # OWNER/REPO
    base_ref: str  # refs/heads/...
    base_sha: str
    head_sha: str
    pull_number: int | None
    author: str
    # a push that creates a branch (`before` all zeros) has no base: it is judged by the policy of
    # the repository's default branch (refs/heads/...), read at that branch's current commit
    default_ref: str = ""


def read_event(name: str, payload: Mapping[str, Any], repository: str) -> Event:
    """Turn GITHUB_EVENT_NAME + the event payload into an Event, or explain what is unsupported."""
    if name in PR_EVENTS:
        pr = payload["pull_request"]
        return Event(name, repository, f"refs/heads/{pr['base']['ref']}", pr["base"]["sha"], pr["head"]["sha"],
                     int(pr["number"]), pr.get("user", {}).get("login", ""))
    if name == "merge_group":
        group = payload["merge_group"]
        found = re.search(r"/pr-(\d+)-", group.get("head_ref", ""))
        return Event(name, repository, group["base_ref"], group["base_sha"], group["head_sha"],
                     int(found.group(1)) if found else None, payload.get("sender", {}).get("login", ""))
    if name == "push":
        pusher = payload.get("pusher", {}).get("name", "") or payload.get("sender", {}).get("login", "")
        default = ""
        if not payload["before"].strip("0"):
            default = f"refs/heads/{payload['repository']['default_branch']}"
        return Event(name, repository, payload["ref"], payload["before"], payload["after"], None, pusher, default)
    supported = ", ".join((*PR_EVENTS, "merge_group", "push"))
    raise click.UsageError(f"event {name!r} is not supported; use one of {supported}")


class ActionError(Exception):
    """The run ended without a verdict: what went wrong, for the log, the job summary and the report."""

    def __init__(self, title: str, lines: list[str], code: int) -> None:
        super().__init__(title)
        self.title, self.lines, self.code = title, lines, code


def run(*, repo: str, policy_path: str, stage: Stage | None, check_name: str, fail_on: str,
        evidence: tuple[str, ...], report_path: str | None, env: Mapping[str, str],
        html_path: str | None = None) -> int:
    event_name = env.get("GITHUB_EVENT_NAME", "")
    try:
        with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as f:
            payload = json.load(f)
        event = read_event(event_name, payload, env["GITHUB_REPOSITORY"])
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise ActionError("not a usable GitHub Actions event", [
            f"{type(exc).__name__}: {exc}; this command runs inside a workflow, on a pull_request, "
            "pull_request_target, pull_request_review, merge_group or push event"], EXIT_INVALID) from None
    except click.UsageError as exc:
        raise ActionError("unsupported event", [exc.message], EXIT_INVALID) from None
    git = Git.discover(repo)
    _fetch(git, event)
    if event.default_ref:
        event = event._replace(base_sha=_default_branch_commit(git, event.default_ref))
    judged_stage: Stage = stage or ("push" if event.name == "push" else "merge")
    try:
        decision, edits_policy, paths = _judge(git, event, policy_path, judged_stage, evidence, env)
    except PolicyError as exc:
        raise ActionError("invalid policy", [str(p) for p in exc.problems], EXIT_INVALID) from None
    from engine.report.sinks import deliver

    decision = deliver(decision)
    return _report(decision, event, check_name=check_name, fail_on=fail_on, report_path=report_path,
                   edits_policy=edits_policy, env=env, html_path=html_path, paths=paths)


def _fetch(git: Git, event: Event) -> None:
    """Make sure both commits are here, as objects only (never a checkout of PR code)."""
    missing = [sha for sha in (event.base_sha, event.head_sha)
               if sha.strip("0") and git.run_status("cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128))[0]]
    if missing:
        git.run("fetch", "--no-tags", "--quiet", "origin", *missing)


def _default_branch_commit(git: Git, ref: str) -> str:
    """The commit of the default branch on origin, whose policy judges a new branch."""
    try:
        git.run("fetch", "--no-tags", "--quiet", "origin", ref)
    except GitError as exc:
        raise ActionError("no policy to judge by", [
            f"this push creates a branch, which is judged by the default branch's policy, but {ref} cannot be "
            f"fetched from origin ({exc}); push the default branch with its policy first"], EXIT_INVALID) from None
    return git.run("rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}").decode().strip()


def _judge(git: Git, event: Event, policy_path: str, stage: Stage, evidence: tuple[str, ...],
           env: Mapping[str, str]) -> tuple[Decision, bool, tuple[tuple[str, tuple[str, ...]], ...]]:
    from engine.facts.gitfacts import GitFacts
    from engine.judge import judge
    from engine.policy.compile import compile_policy
    from engine.policy.source import PolicySource

    policy_ref = event.default_ref or event.base_ref
    found = git.blob_with_id(f"{event.base_sha}:{policy_path}") if event.base_sha.strip("0") else None
    if found is None:
        raise PolicyError([_missing(policy_path, event)])
    source = PolicySource(found[1], f"{policy_ref}:{policy_path}", policy_ref, event.base_sha)
    policy = compile_policy(source.data, source.name)
    old = "0" * len(event.base_sha) if event.default_ref else event.base_sha  # a creation stays a creation
    update = RefUpdate(old, event.head_sha, event.base_ref.encode())
    pr = f"{event.repository}#{event.pull_number}" if event.pull_number else None
    inputs = Inputs(now=time.time(), evidence_files=evidence, github_pr=pr, github_api=env.get("GITHUB_API_URL"),
                    environ=dict(env))
    actor = Actor(event.author or env.get("GITHUB_ACTOR", "unknown"), "github-actions", "event")
    base = [(policy_ref.encode(), event.base_sha)] if event.base_sha.strip("0") else []
    facts = GitFacts(git, Change((update,), actor, stage), server_refs=base,
                  server_label=f"the base {policy_ref} ({event.base_sha[:10]})", inputs=inputs, policy=policy,
                  source=source)
    decision = judge(policy, facts)
    from engine.report.html import judged_paths

    paths = judged_paths(facts, decision)
    trusted = [policy_path, *filter(None, [(policy.get("trust") or {}).get("allowed_signers")])]
    before = git.blobs([f"{event.base_sha}:{p}" for p in trusted])
    after = git.blobs([f"{event.head_sha}:{p}" for p in trusted])
    edited = [p for p, old, new in zip(trusted, before, after, strict=True) if old != new]
    if edited:
        decision = decision._replace(outcomes=(*decision.outcomes, Outcome(
            "changegate-policy-edited", "warn",
            f"this change edits {', '.join(edited)}: it is judged by the base branch's version; the new one "
            "applies once merged", fix="review the policy change itself carefully", paths=tuple(edited))))
    return decision, bool(edited), paths


def _missing(policy_path: str, event: Event) -> Problem:
    if event.default_ref:
        return Problem(f"{event.default_ref}:{policy_path}", 0, 0,
                       f"this push creates {event.base_ref}, which is judged by the default branch's policy, "
                       f"but {event.default_ref} has no policy at {policy_path}; commit one there first (or set "
                       "the action's `policy` input)")
    return Problem(f"{event.base_ref}:{policy_path}", 0, 0,
                   f"the base branch has no policy at {policy_path}; commit one there first (or set the "
                   "action's `policy` input)")


def _report(decision: Decision, event: Event, *, check_name: str, fail_on: str, report_path: str | None,
            edits_policy: bool, env: Mapping[str, str], html_path: str | None = None,
            paths: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> int:
    from engine.report.github import check_run_output, step_summary, workflow_commands
    from engine.report.html import page
    from engine.report.json_report import as_dict

    for line in workflow_commands(decision):
        click.echo(line)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(step_summary(decision))
    report = report_path or os.path.join(env.get("RUNNER_TEMP", "."), "changegate-report.json")
    with open(report, "w", encoding="utf-8") as f:
        json.dump(as_dict(decision, policy_edited=edits_policy), f, indent=2)
    # the decision page: the action's next step uploads it as an artifact and links it in the summary
    html_file = html_path or os.path.join(env.get("RUNNER_TEMP", "."), "changegate-decision.html")
    with open(html_file, "w", encoding="utf-8") as f:
        f.write(page(decision, paths=paths))
    warned = any(o.status in ("warn", "fail", "error") for o in decision.outcomes)
    failed = not decision.allowed or (fail_on == "warn" and warned)
    verdict = "error" if decision.crashed else "allowed" if decision.allowed else "denied"
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"decision={verdict}\nreport={report}\npage={html_file}\n")
    _post_check_run(decision, event, check_name, failed, check_run_output, env)
    if not failed:
        return 0
    return EXIT_INTERNAL if decision.crashed else EXIT_DENIED


def _post_check_run(decision: Decision, event: Event, name: str, failed: bool, output: Any,
                    env: Mapping[str, str]) -> None:
    """The check run: best effort, because a fork's token may not write checks; the job's own
    status, summary and annotations still carry the verdict."""
    from engine.facts.github_client import GitHub, GitHubError

    owner, _, repo = event.repository.partition("/")
    conclusion = "failure" if failed else ("neutral" if any(o.status == "warn" for o in decision.outcomes)
                                             else "success")
    result = output(decision)
    if env.get("GITHUB_RUN_ID"):  # the page is an artifact of this workflow run: link the run
        run_url = (f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{event.repository}/actions/runs/"
                   f"{env['GITHUB_RUN_ID']}")
        from dataclasses import replace

        link = f"\n[Decision page (artifact changegate-decision)]({run_url})\n"
        result = replace(result, summary=result.summary + link)
    try:
        with GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), environ=env) as github:
            github.create_check_run(owner, repo, name=name, head_sha=event.head_sha, conclusion=conclusion,
                                    output=result)
    except GitHubError as exc:
        hint = (" (a pull request from a fork gets a read-only token: use the pull_request_target pattern "
                "from the README to get a check run)") if exc.kind in ("forbidden", "bad_token") else ""
        click.echo(f"::warning title=changegate: no check run::could not create the check run: {exc.message}{hint}")


@click.command("action")
@click.option("--repo", default=".", show_default=True, help="The checkout (GITHUB_WORKSPACE).")
@click.option("--policy", "policy_path", default=".changegate/policy.yml", show_default=True,
              help="Path of the policy in the base branch.")
@click.option("--stage", type=click.Choice(["push", "merge", "deploy"]),
              help="Stage to judge (default: merge for pull requests and merge queues, push for pushes).")
@click.option("--check-name", default="changegate", show_default=True)
@click.option("--fail-on", type=click.Choice(["deny", "warn"]), default="deny", show_default=True)
@click.option("--evidence", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Where to write the JSON report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Where to write the decision page (default: $RUNNER_TEMP/changegate-decision.html).")
def command(repo: str, policy_path: str, stage: Stage | None, check_name: str, fail_on: str,
            evidence: tuple[str, ...], report_path: str | None, html_path: str | None) -> None:
    """Run as a GitHub Actions step: judge the event's change and report it on the pull request."""
    try:
        code = run(repo=repo, policy_path=policy_path, stage=stage, check_name=check_name, fail_on=fail_on,
                   evidence=evidence, report_path=report_path, env=os.environ, html_path=html_path)
    except ActionError as exc:
        code = report_error(exc, report_path, os.environ)
    except GitError as exc:
        code = report_error(ActionError("git failed", [str(exc)], EXIT_INTERNAL), report_path, os.environ)
    except Exception as exc:  # noqa: BLE001 - a run must end with outputs and a summary, never a bare traceback
        code = report_error(ActionError("unexpected error", [f"{type(exc).__name__}: {exc}"], EXIT_INTERNAL),
                            report_path, os.environ)
    sys.exit(code)


def report_error(error: ActionError, report_path: str | None, env: Mapping[str, str]) -> int:
    """A run without a verdict still leaves what a workflow reads: `decision=error`, a JSON report
    saying what went wrong, a job summary and an error annotation. Nothing was allowed."""
    from engine.report.github import escape_data, escape_property, markdown_cell

    for line in error.lines or [error.title]:
        click.echo(f"::error title={escape_property('changegate: ' + error.title)}::{escape_data(line)}")
    report = report_path or os.path.join(env.get("RUNNER_TEMP", "."), "changegate-report.json")
    with open(report, "w", encoding="utf-8") as f:
        json.dump({"allowed": False, "decision": "error", "exit_code": error.code, "error": error.title,
                   "problems": error.lines}, f, indent=2)
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"decision=error\nreport={report}\n")
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(f"## changegate: error: {markdown_cell(error.title)}\n\nNothing was judged, so nothing is "
                    "allowed. What went wrong:\n\n" + "".join(f"- {markdown_cell(line)}\n" for line in error.lines))
    return error.code

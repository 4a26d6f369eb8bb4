"""The verdict for GitHub: workflow-command annotations, the job summary, a check run's output.

Paths and messages can be chosen by whoever opened the pull request, so everything
that reaches a workflow command is escaped the way the Actions runner decodes it
(a newline in a file name must not start a new `::command`), and everything that
reaches Markdown is escaped so it cannot add rows, links or HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.decision import Decision, Outcome

if TYPE_CHECKING:
    from engine.facts.github import Annotation, CheckRunOutput

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "warn": "⚠️ warn", "skip": "➖ skip", "error": "🛑 error",
         "bypassed": "🔓 bypassed"}


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF are percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (file=, title=): also ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _level(outcome: Outcome) -> str | None:
    if outcome.denies:
        return "error"
    if outcome.status in ("warn", "fail", "error", "bypassed"):
        return "warning"
    return None


def workflow_commands(decision: Decision) -> list[str]:
    """`::error` / `::warning` lines: one per offending file, else one per failing rule."""
    lines = []
    for outcome in decision.outcomes:
        level = _level(outcome)
        if level is None:
            continue
        title = escape_property(f"changegate: {outcome.rule}")
        message = escape_data(_one_line(outcome))
        if outcome.paths:
            lines += [f"::{level} file={escape_property(path)},line=1,title={title}::{message}"
                      for path in outcome.paths]
        else:
            lines.append(f"::{level} title={title}::{message}")
    return lines


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no row breaks, no HTML, no pipes."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text.replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")


def step_summary(decision: Decision) -> str:
    """The job summary: the verdict, then a table of rules with status and how to satisfy."""
    verdict = "allowed" if decision.allowed else "denied"
    head = (f"## changegate: {decision.stage} {verdict}\n\n"
            f"Policy `{markdown_cell(decision.policy)}` ({markdown_cell(decision.policy_digest)})\n\n"
            "| rule | status | why | to satisfy |\n|---|---|---|---|\n")
    rows = []
    for o in decision.outcomes:
        why = markdown_cell(o.message) + "".join(f"<br>{markdown_cell(seen)}" for seen in o.seen)
        status = _ICON[o.status] + ("" if o.enforcement == "enforce" else " (evaluate mode)")
        rows.append(f"| `{markdown_cell(o.rule)}` | {status} | {why} | {markdown_cell(o.fix or o.required)} |")
    return head + "\n".join(rows) + "\n"


def check_run_output(decision: Decision) -> CheckRunOutput:
    """Title, summary and per-rule details for the Checks API, with file annotations."""
    from engine.facts.github import Annotation, CheckRunOutput

    failing = [o for o in decision.outcomes if o.denies]
    title = (f"{len(failing)} rule(s) failed" if failing else "all rules satisfied") + f" ({decision.policy})"
    details = []
    for o in decision.outcomes:
        if o.status in ("pass", "skip"):
            continue
        details.append(f"### {o.rule}: {o.status}\n{o.message}\n")
        details += [f"- seen: {s}" for s in o.seen]
        if o.required:
            details.append(f"- required: {o.required}")
        if o.fix:
            details.append(f"- to fix: {o.fix}")
        details.append("")
    annotations: list[Annotation] = []
    for o in decision.outcomes:
        level = _level(o)
        if level is None:
            continue
        annotations += [Annotation(path=path, start_line=1, end_line=1,
                                   annotation_level="failure" if level == "error" else "warning",
                                   message=_one_line(o), title=f"changegate: {o.rule}")
                        for path in o.paths]
    return CheckRunOutput(title=title, summary=step_summary(decision), text="\n".join(details) or None,
                          annotations=tuple(annotations))


def _one_line(outcome: Outcome) -> str:
    parts = [outcome.message]
    if outcome.required:
        parts.append(f"Required: {outcome.required}")
    if outcome.fix:
        parts.append(f"To fix: {outcome.fix}")
    return " ".join(parts)

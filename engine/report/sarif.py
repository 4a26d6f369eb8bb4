"""The `sarif` format (SARIF 2.1.0): findings for code scanning (GitHub's, or any SARIF viewer).

One run per report. Every rule the decision lists is a reporting descriptor (id, what it
requires, and the fix as its help text); every outcome that did not pass is a result:
`error` when it denies, `warning` when it only warns (evaluate mode, on_error: warn), with a
location per path it is about (and line, when the outcome records one), else the policy file
itself, so a code-scanning alert always has a place to show. Rule errors (a check that could
not be made) are results too, and a rule that crashed marks the invocation unsuccessful.

A decision is indented JSON; a measurement of `policy rollback-check` and its final verdict
are one line each (a watch streams them), like the json format.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from engine.decision import Decision, Outcome
from engine.report import ApprovalRecords, Measurement, Rollback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.report import Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/changegate/changegate"


def render(subject: Report, *, verbose: bool = False) -> str:
    """`verbose` changes nothing: a SARIF log lists every finding."""
    if isinstance(subject, Decision):
        return json.dumps(sarif_log(subject), indent=2, ensure_ascii=False) + "\n"
    if isinstance(subject, Measurement):
        log = sarif_log(subject.decision)
        log["runs"][0]["properties"]["measurement"] = {"number": subject.number, "count": subject.total,
                                                       "time": subject.at}
        return json.dumps(log, ensure_ascii=False) + "\n"
    if isinstance(subject, Rollback):
        return json.dumps(_rollback(subject), ensure_ascii=False) + "\n"
    return json.dumps(_approvals(subject), indent=2, ensure_ascii=False) + "\n"


def sarif_log(decision: Decision) -> dict[str, Any]:
    """The decision as a SARIF log with one run."""
    rules: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []
    for outcome in decision.outcomes:
        if outcome.rule not in rules:
            rules[outcome.rule] = len(descriptors)
            descriptors.append(_descriptor(outcome))
    policy_file = _policy_file(decision.policy_source)
    lines = {rule.id: rule.line for rule in decision.rules}
    results = [_result(o, rules[o.rule], policy_file, lines.get(o.rule))
               for o in decision.outcomes if o.status in ("fail", "warn", "error", "bypassed")]
    if decision.bypass is not None and decision.bypass.status == "granted":
        # a bypassed finding is still a finding: SARIF's suppression says who waived it and why
        waived = {"kind": "external", "status": "accepted",
                  "justification": f"break-glass by {decision.bypass.actor}: {decision.bypass.reason}"}
        for result in results:
            if result["ruleId"] in decision.bypass.rules:
                result["level"] = "error"
                result["suppressions"] = [waived]
    notifications = [{"level": "error", "message": {"text": f"rule {rule} could not be evaluated (it raised): "
                                                            "its outcome is an error, and the change is denied"},
                      "descriptor": {"id": rule}} for rule in decision.crashed]
    verdict = "allowed" if decision.allowed else "denied"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "changegate", "informationUri": INFORMATION_URI, "version": _version(),
                                "rules": descriptors}},
            "invocations": [{"executionSuccessful": not decision.crashed, "exitCode": decision.exit_code,
                             "toolExecutionNotifications": notifications}],
            "results": results,
            "properties": {"decision": verdict, "stage": decision.stage,
                           "policy": {"name": decision.policy, "digest": decision.policy_digest},
                           "refs": [u.name for u in decision.updates]},
        }],
    }


def _descriptor(outcome: Outcome) -> dict[str, Any]:
    """A rule's metadata: its id, what it requires, and how to satisfy it (the help)."""
    required = outcome.required or outcome.message
    help_text = f"Required: {outcome.required}" if outcome.required else "See the rule in the policy."
    if outcome.fix:
        help_text += f"\nTo fix: {outcome.fix}"
    return {"id": outcome.rule, "name": outcome.rule,
            "shortDescription": {"text": f"changegate rule {outcome.rule}"},
            "fullDescription": {"text": required},
            "help": {"text": help_text},
            "defaultConfiguration": {"level": "error" if outcome.enforcement == "enforce" else "warning"},
            "properties": {"enforcement": outcome.enforcement, "tags": ["changegate", "policy"]}}


def _result(outcome: Outcome, index: int, policy_file: str | None, rule_line: int | None) -> dict[str, Any]:
    text = outcome.message
    if outcome.fix:
        text += f" To fix: {outcome.fix}"
    result: dict[str, Any] = {
        "ruleId": outcome.rule, "ruleIndex": index,
        "level": "error" if outcome.denies else "warning",
        "kind": "fail",
        "message": {"text": text},
        "properties": {"status": outcome.status, "seen": list(outcome.seen), "required": outcome.required,
                       "fix": outcome.fix, "enforcement": outcome.enforcement},
    }
    locations = [_location(path, line) for path, line in _places(outcome)]
    if not locations and policy_file:  # a rule about no file: point at the rule in the policy
        locations = [_location(policy_file, rule_line)]
    if locations:
        result["locations"] = locations
    return result


def _places(outcome: Outcome) -> list[tuple[str, int | None]]:
    """(path, line) pairs: an outcome's recorded lines (`data["lines"]`: {path: [line, ...]}),
    then its other paths without a line."""
    lines = (outcome.data or {}).get("lines", {})
    places: list[tuple[str, int | None]] = [(path, int(line)) for path, found in lines.items() for line in found
                                            if isinstance(line, int) and line >= 1]
    places += [(path, None) for path in outcome.paths if path not in lines]
    return places


def _location(path: str, line: int | None) -> dict[str, Any]:
    """A repository-relative path as a URI reference (percent-encoded; a name that is not
    UTF-8 keeps its bytes)."""
    physical: dict[str, Any] = {"artifactLocation": {
        "uri": quote(path.encode("utf-8", "surrogateescape"), safe="/"), "uriBaseId": "%SRCROOT%"}}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _policy_file(source: str) -> str | None:
    """The policy's path in the repository, from its source name (`refs/heads/main:.changegate/policy.yml`,
    or a relative file name); None for an absolute path outside the repository."""
    path = source.split(":", 1)[1] if source.startswith("refs/") and ":" in source else source
    if not path or path.startswith("/") or "\\" in path or path.startswith(".."):
        return None
    return path


def _rollback(verdict: Rollback) -> dict[str, Any]:
    results = []
    if verdict.verdict != "keep":
        results.append({"ruleId": "changegate-rollback", "ruleIndex": 0,
                        "level": "error", "kind": "fail", "message": {"text": verdict.summary}})
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "changegate", "informationUri": INFORMATION_URI, "version": _version(),
                            "rules": [{"id": "changegate-rollback", "name": "rollback-check",
                                       "shortDescription": {"text": "keep or roll back a deploy"},
                                       "help": {"text": "Roll back the deploy, or fix what the failed "
                                                        "measurements name and deploy again."}}]}},
        "invocations": [{"executionSuccessful": verdict.verdict != "error", "exitCode": verdict.exit_code}],
        "results": results,
        "properties": {"decision": verdict.verdict, "measurements": verdict.measurements,
                       "failures": verdict.failures, "failureLimit": verdict.failure_limit,
                       "policy": {"name": verdict.policy, "digest": verdict.policy_digest}}}]}


def _approvals(listing: ApprovalRecords) -> dict[str, Any]:
    """Approval records that do not count (bad signature, unknown key, ...) as warnings."""
    results = [{"ruleId": "changegate-approval-record", "ruleIndex": 0, "level": "warning", "kind": "fail",
                "message": {"text": f"approval record by {row.get('approver', '?')}: {row['status']}: "
                                    f"{row.get('reason', '')}"}}
               for row in listing.records if row["status"] not in ("valid", "unverified")]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "changegate", "informationUri": INFORMATION_URI, "version": _version(),
                            "rules": [{"id": "changegate-approval-record", "name": "approval-record",
                                       "shortDescription": {"text": "an approval record that does not count"},
                                       "help": {"text": "Ask the approver to approve again with a key the "
                                                        "policy's allowed signers trust."}}]}},
        "results": results,
        "properties": {"commit": listing.commit, "tree": listing.tree, "verified": listing.verified,
                       "records": len(listing.records)}}]}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("changegate")
    except PackageNotFoundError:
        return "0"

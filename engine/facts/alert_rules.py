"""Alerting rules as teams already write them, used as a deploy gate.

A team that pages on ``RolloutErrorRateHigh`` should not have to restate that condition in
a policy: the policy points at their Prometheus rules file and denies while those alerts
fire. Two sources answer "does it fire?":

* the server: ``/api/v1/alerts`` lists the alerts Prometheus holds for its loaded rules;
  only alerts named in the file count (state ``firing``, or ``pending`` too when
  ``deny_when="pending"``);
* our own evaluation: each rule's ``expr`` is evaluated over its ``for`` window
  [at - for, at] with a range query stepped at the group's ``interval`` (default 1m, the
  Prometheus default). A label set "would fire" when the expr returned it at EVERY step of
  the window, which is what Prometheus's ``for`` means; it is "pending" when it is there
  at ``at`` but not throughout. A rule without ``for`` fires when the expr returns anything
  at ``at``. This works on any server, even one that does not load the file, and on
  history (``at`` in the past).

Recording rules (``record:``) are skipped; an alert that reads a recorded series finds no
data unless the server records it. Templated rule labels (``{{ ... }}``) are not expanded.
The file is read with ruamel.yaml's safe loader, node by node, so every shape error names
``file:line:column``. PromQL syntax is checked by the server when the rule is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

from engine.facts.prometheus import (
    ActiveAlert,
    Labels,
    PrometheusClient,
    PrometheusError,
    format_labels,
)
from engine.times import format_duration, format_time, parse_duration

if TYPE_CHECKING:
    from os import PathLike

    from ruamel.yaml.nodes import Node

__all__ = [
    "AlertInstance",
    "AlertRule",
    "AlertsResult",
    "RuleEvaluation",
    "RulesFile",
    "RulesFileError",
    "evaluate_rule",
    "firing_alerts",
    "load_rules",
    "parse_rules",
]

DEFAULT_INTERVAL = 60.0  # Prometheus's default global evaluation_interval

_STR = "tag:yaml.org,2002:str"
_SCALARS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
}
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GROUP_KEYS = {"name", "interval", "limit", "query_offset", "labels", "rules"}
_RULE_KEYS = {
    "alert",
    "record",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
}


class RulesFileError(Exception):
    """A rules file that cannot be used, with the place to fix it (``file:line:col``)."""

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}")
        self.source = source
        self.line = line
        self.column = column
        self.message = message


class AlertRule(NamedTuple):
    """One ``alert:`` rule; ``source`` is where it was written (``file:line``)."""

    name: str
    expr: str
    for_: float  # seconds; 0 fires on the first evaluation
    labels: Labels
    annotations: Labels
    group: str
    interval: float | None  # the group's evaluation interval, if it sets one
    source: str


class RulesFile(NamedTuple):
    """The alerting rules of one file; recording rules are only counted."""

    source: str
    alerts: tuple[AlertRule, ...]
    recording_rules: int


# --------------------------------------------------------------------------- parsing


def load_rules(path: str | PathLike[str]) -> RulesFile:
    """Read and validate a Prometheus rules file."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise RulesFileError(source, 0, 0, f"cannot read the rules file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RulesFileError(source, 0, 0, "the rules file is not UTF-8 text") from None
    return parse_rules(text, source=source)


def parse_rules(text: str, *, source: str = "<rules>") -> RulesFile:
    """Validate rules-file text; every error names ``source:line:column``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        # compose() keeps nodes and their marks; the safe loader resolves tags only.
        root = YAML(typ="safe", pure=True).compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise RulesFileError(source, line, column, f"not valid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise RulesFileError(source, 0, 0, f"not valid YAML: {exc}") from None
    if root is None:
        raise RulesFileError(source, 1, 1, "the file is empty; expected `groups:`")
    return _Reader(source).rules_file(root)


class _Reader:
    """Walks the YAML node tree, converting and checking as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node, message: str) -> RulesFileError:
        mark = node.start_mark
        return RulesFileError(self.source, mark.line + 1, mark.column + 1, message)

    def where(self, node: Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def mapping(self, node: Node, what: str, allowed: set[str]) -> dict[str, tuple[Node, Node]]:
        from ruamel.yaml.nodes import MappingNode

        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a key in {what}")
            if key in entries:
                raise self.fail(key_node, f"duplicate key {key!r} in {what}")
            if key not in allowed:
                raise self.fail(
                    key_node,
                    f"unknown key {key!r} in {what}; allowed: {', '.join(sorted(allowed))}",
                )
            entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: Node, what: str) -> list[Node]:
        from ruamel.yaml.nodes import SequenceNode

        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)

    def string(self, node: Node, what: str, *, scalars: bool = False) -> str:
        """A scalar as text; ``scalars`` also accepts numbers and booleans as written."""
        from ruamel.yaml.nodes import ScalarNode

        accepted = _SCALARS if scalars else {_STR}
        if not isinstance(node, ScalarNode) or node.tag not in accepted:
            kind = "a string" if not scalars else "a single value"
            raise self.fail(node, f"{what} must be {kind}")
        return str(node.value)

    def duration(self, node: Node, what: str) -> float:
        from ruamel.yaml.nodes import ScalarNode

        is_int = isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:int"
        if is_int and node.value.strip() == "0":
            return 0.0
        text = self.string(node, what)
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise self.fail(node, f"{what}: {exc}") from None

    def label_map(self, node: Node, what: str) -> Labels:
        from ruamel.yaml.nodes import MappingNode

        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping of names to values")
        pairs: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a name in {what}")
            if not _LABEL_NAME.match(key):
                raise self.fail(key_node, f"{key!r} in {what} is not a valid label name")
            if key in pairs:
                raise self.fail(key_node, f"duplicate name {key!r} in {what}")
            pairs[key] = self.string(value_node, f"{what}.{key}", scalars=True)
        return tuple(sorted(pairs.items()))

    def rules_file(self, root: Node) -> RulesFile:
        top = self.mapping(root, "the rules file", {"groups"})
        if "groups" not in top:
            raise self.fail(root, "the rules file needs a `groups:` list")
        alerts: list[AlertRule] = []
        recording = 0
        seen_groups: set[str] = set()
        for group_node in self.sequence(top["groups"][1], "`groups`"):
            group = self.mapping(group_node, "a group", _GROUP_KEYS)
            if "name" not in group:
                raise self.fail(group_node, "a group needs a `name:`")
            name = self.string(group["name"][1], "the group name")
            if not name:
                raise self.fail(group["name"][1], "the group name must not be empty")
            if name in seen_groups:
                raise self.fail(group["name"][1], f"group name {name!r} is used twice")
            seen_groups.add(name)
            interval = None
            if "interval" in group:
                interval = self.duration(group["interval"][1], "the group interval")
                if interval <= 0:
                    raise self.fail(group["interval"][1], "the group interval must be > 0")
            if "rules" not in group:
                raise self.fail(group_node, f"group {name!r} needs a `rules:` list")
            for rule_node in self.sequence(group["rules"][1], f"`rules` of group {name!r}"):
                rule = self.rule(rule_node, name, interval)
                if rule is None:
                    recording += 1
                else:
                    alerts.append(rule)
        return RulesFile(self.source, tuple(alerts), recording)

    def rule(self, node: Node, group: str, interval: float | None) -> AlertRule | None:
        """One rule; None for a (checked, then skipped) recording rule."""
        fields = self.mapping(node, "a rule", _RULE_KEYS)
        if ("alert" in fields) == ("record" in fields):
            raise self.fail(node, "a rule needs exactly one of `alert:` or `record:`")
        if "expr" not in fields:
            raise self.fail(node, "a rule needs an `expr:`")
        expr = self.string(fields["expr"][1], "`expr`", scalars=True).strip()
        if not expr:
            raise self.fail(fields["expr"][1], "`expr` must not be empty")
        if "record" in fields:
            for key in ("for", "keep_firing_for", "annotations"):
                if key in fields:
                    raise self.fail(fields[key][0], f"a recording rule cannot have `{key}:`")
            return None
        name_node = fields["alert"][1]
        name = self.string(name_node, "the alert name")
        if not _METRIC_NAME.match(name):
            raise self.fail(name_node, f"alert name {name!r} is not a valid metric name")
        for_ = self.duration(fields["for"][1], "`for`") if "for" in fields else 0.0
        if "keep_firing_for" in fields:
            self.duration(fields["keep_firing_for"][1], "`keep_firing_for`")
        labels = self.label_map(fields["labels"][1], "`labels`") if "labels" in fields else ()
        annotations = self.label_map(fields["annotations"][1], "`annotations`") if "annotations" in fields else ()
        return AlertRule(name, expr, for_, labels, annotations, group, interval, self.where(node))


# --------------------------------------------------------------------------- judging


class AlertInstance(NamedTuple):
    """One alert (rule plus label set) that fires or is pending, and who says so."""

    alert: str
    labels: Labels  # the alert's labels as Prometheus builds them, alertname included
    state: Literal["firing", "pending"]
    origin: Literal["server", "evaluated"]
    detail: str

    @property
    def name(self) -> str:
        return format_labels(self.labels)


class RuleEvaluation(NamedTuple):
    """Our evaluation of one rule at ``at``: label sets that fire or are pending."""

    rule: AlertRule
    firing: tuple[Labels, ...]
    pending: tuple[Labels, ...]
    step: float
    error: str | None = None
    error_kind: str | None = None


class AlertsResult(NamedTuple):
    """Whether any alert of the file fires (or is pending, if that denies)."""

    verdict: Literal["pass", "fail", "error"]
    at: float
    deny_when: Literal["firing", "pending"]
    denying: tuple[AlertInstance, ...]
    evaluations: tuple[RuleEvaluation, ...]
    server_alerts: tuple[ActiveAlert, ...]  # the file's alerts the server holds, any state
    errors: tuple[str, ...]
    message: str


def _alert_labels(rule: AlertRule, series: Labels) -> Labels:
    """Labels Prometheus gives the alert: series labels less __name__, plus the rule's."""
    merged = {key: value for key, value in series if key != "__name__"}
    for key, value in rule.labels:
        if "{{" not in value:  # templates are not expanded here
            merged[key] = value
    merged["alertname"] = rule.name
    return tuple(sorted(merged.items()))


def evaluate_rule(client: PrometheusClient, rule: AlertRule, *, at: float, step: float | None = None) -> RuleEvaluation:
    """Evaluate one rule's expr at ``at`` and over its ``for`` window (see module doc)."""
    width = step or rule.interval or DEFAULT_INTERVAL
    try:
        if rule.for_ <= 0:
            result = client.query(rule.expr, at=at)
        else:
            result = client.query_range(rule.expr, start=at - rule.for_, end=at, step=width)
    except PrometheusError as error:
        return RuleEvaluation(rule, (), (), width, error.message, error.kind)
    if result.result_type not in ("vector", "matrix"):
        return RuleEvaluation(
            rule, (), (), width,
            f"the expr of {rule.name} returns a {result.result_type}, not a vector",
            "bad_query",
        )  # fmt: skip
    last_ms = round(at * 1000)
    if rule.for_ <= 0:
        expected = [last_ms]
    else:
        expected = list(range(round((at - rule.for_) * 1000), last_ms + 1, round(width * 1000)))
    present: dict[Labels, set[int]] = {}
    for series in result.series:
        times = present.setdefault(_alert_labels(rule, series.labels), set())
        times.update(round(sample.timestamp * 1000) for sample in series.samples)
    if rule.for_ <= 0:  # an instant answer is stamped with the query time
        present = {labels: {last_ms} for labels in present}
    firing = tuple(sorted(labels for labels, times in present.items() if times.issuperset(expected)))
    pending = tuple(
        sorted(labels for labels, times in present.items() if last_ms in times and not times.issuperset(expected))
    )
    return RuleEvaluation(rule, firing, pending, width)


def firing_alerts(
    client: PrometheusClient,
    rules: RulesFile | Iterable[AlertRule],
    *,
    at: float | None = None,
    deny_when: Literal["firing", "pending"] = "firing",
    ask_server: bool = True,
    evaluate: bool = True,
    step: float | None = None,
) -> AlertsResult:
    """Which of the file's alerts fire (or would fire) at ``at``; errors travel inside.

    The verdict is ``fail`` when any alert denies (firing, or pending with
    ``deny_when="pending"``), else ``error`` when some source could not be asked (a
    clear answer cannot be proven), else ``pass``.
    """
    import time

    if deny_when not in ("firing", "pending"):
        raise ValueError(f"deny_when must be 'firing' or 'pending', got {deny_when!r}")
    alert_rules: Sequence[AlertRule] = rules.alerts if isinstance(rules, RulesFile) else tuple(rules)
    when = time.time() if at is None else at
    names = {rule.name for rule in alert_rules}
    states = {"firing", "pending"} if deny_when == "pending" else {"firing"}
    denying: list[AlertInstance] = []
    errors: list[str] = []

    server: tuple[ActiveAlert, ...] = ()
    if ask_server and alert_rules:
        try:
            server = tuple(alert for alert in client.alerts() if alert.name in names)
        except PrometheusError as error:
            errors.append(f"cannot list the server's alerts: {error.message}")
        for alert in server:
            if alert.state in states:
                since = f" since {alert.active_at}" if alert.active_at else ""
                denying.append(
                    AlertInstance(
                        alert.name, alert.labels, "firing" if alert.state == "firing" else "pending",
                        "server", f"the server reports it {alert.state}{since}",
                    )
                )  # fmt: skip

    evaluations: list[RuleEvaluation] = []
    if evaluate:
        for rule in alert_rules:
            result = evaluate_rule(client, rule, at=when, step=step)
            evaluations.append(result)
            if result.error is not None:
                errors.append(f"{rule.name} ({rule.source}): {result.error}")
                continue
            held = _held_phrase(rule, result.step, when)
            denying.extend(AlertInstance(rule.name, labels, "firing", "evaluated", held) for labels in result.firing)
            if deny_when == "pending":
                denying.extend(
                    AlertInstance(
                        rule.name, labels, "pending", "evaluated",
                        f"the expr returns it at {format_time(when)} but not at every step "
                        f"of the {format_duration(rule.for_)} `for` window",
                    )
                    for labels in result.pending
                )  # fmt: skip

    verdict: Literal["pass", "fail", "error"]
    if denying:
        verdict = "fail"
        shown = "; ".join(f"{item.name} {item.state} ({item.origin})" for item in denying[:5])
        more = f"; and {len(denying) - 5} more" if len(denying) > 5 else ""
        message = f"{len(denying)} alert(s) deny: {shown}{more}"
    elif errors:
        verdict = "error"
        message = "cannot tell whether the alerts fire: " + "; ".join(errors[:3])
    else:
        verdict = "pass"
        what = "fires" if deny_when == "firing" else "fires or is pending"
        message = f"none of {len(alert_rules)} alert rule(s) {what} at {format_time(when)}"
    return AlertsResult(
        verdict,
        when,
        deny_when,
        tuple(denying),
        tuple(evaluations),
        server,
        tuple(errors),
        message,
    )


def _held_phrase(rule: AlertRule, step: float, at: float) -> str:
    if rule.for_ <= 0:
        return f"the expr returns it at {format_time(at)} and the rule has no `for`"
    return (
        f"the expr returns it at every {format_duration(step)} step of the "
        f"{format_duration(rule.for_)} `for` window ending {format_time(at)}"
    )

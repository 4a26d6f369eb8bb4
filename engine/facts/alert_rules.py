"""Alerting-rules files as teams already write them: reading and checking them.

A team that pages on ``RolloutErrorRateHigh`` should not have to restate that condition in
a policy: the policy points at their Prometheus rules file and denies while those alerts
fire (engine.rules.alert_verdicts judges that). This module reads the file into typed
`AlertRule`s.

Recording rules (``record:``) are checked, then skipped; an alert that reads a recorded
series finds no data unless the server records it. Templated rule labels (``{{ ... }}``)
are kept as written. The file is read with ruamel.yaml's safe loader, node by node, so
every shape error names ``file:line:column``. PromQL syntax is checked by the server when
the rule is evaluated.

Teams keep rules as they deploy them, so besides a Prometheus rules file (``groups:``) a
file may hold ``PrometheusRule`` custom resources (prometheus-operator, kube-prometheus:
the groups sit under ``spec``), and several YAML documents (``---``) of either form. Other
Kubernetes resources in a manifest bundle are skipped and counted; a file with no rule
groups at all is an error, never an empty (always quiet) set of alerts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from engine.times import parse_duration

if TYPE_CHECKING:
    from os import PathLike

    from ruamel.yaml.nodes import Node

    from engine.facts.prometheus import Labels

__all__ = [
    "AlertRule",
    "RulesFile",
    "RulesFileError",
    "load_rules",
    "parse_rules",
]

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
# PrometheusRule groups may also carry Thanos' partial_response_strategy.
_CR_GROUP_KEYS = _GROUP_KEYS | {"partial_response_strategy"}
_CR_KEYS = {"apiVersion", "kind", "metadata", "spec"}
_CR_API = "monitoring.coreos.com/"
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
        # compose_all() keeps nodes and their marks; the safe loader resolves tags only.
        roots = [root for root in YAML(typ="safe", pure=True).compose_all(text) if root is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise RulesFileError(source, line, column, f"not valid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise RulesFileError(source, 0, 0, f"not valid YAML: {exc}") from None
    if not roots:
        raise RulesFileError(source, 1, 1, "the file is empty; expected `groups:` or a PrometheusRule")
    return _Reader(source).documents(roots)


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

    def documents(self, roots: list[Node]) -> RulesFile:
        """Every document's groups: a rules file's, or a PrometheusRule's `spec`."""
        from ruamel.yaml.nodes import MappingNode

        alerts: list[AlertRule] = []
        recording = groups = 0
        for root in roots:
            keys = {k.value for k, _ in root.value} if isinstance(root, MappingNode) else set()
            if "kind" in keys:
                top = {k.value: v for k, v in root.value}
                kind = self.string(top["kind"], "kind")
                if kind != "PrometheusRule":
                    continue  # another resource of a manifest bundle
                resource = self.mapping(root, "a PrometheusRule", _CR_KEYS)
                api = self.string(resource["apiVersion"][1], "apiVersion") if "apiVersion" in resource else ""
                if not api.startswith(_CR_API):
                    raise self.fail(root, f"a PrometheusRule needs apiVersion {_CR_API}v1 (it has {api!r})")
                if "spec" not in resource:
                    raise self.fail(root, "a PrometheusRule needs a `spec:` with `groups:`")
                found = self.rules_file(resource["spec"][1], "the PrometheusRule spec", _CR_GROUP_KEYS)
            else:
                found = self.rules_file(root, "the rules file", _GROUP_KEYS)
            alerts += found.alerts
            recording += found.recording_rules
            groups += 1
        if not groups:
            raise RulesFileError(self.source, 1, 1, "no rule groups: the file holds neither `groups:` nor a "
                                 "PrometheusRule (monitoring.coreos.com/v1)")
        return RulesFile(self.source, tuple(alerts), recording)

    def rules_file(self, root: Node, what: str, group_keys: set[str]) -> RulesFile:
        top = self.mapping(root, what, {"groups"})
        if "groups" not in top:
            raise self.fail(root, f"{what} needs a `groups:` list")
        alerts: list[AlertRule] = []
        recording = 0
        seen_groups: set[str] = set()
        for group_node in self.sequence(top["groups"][1], "`groups`"):
            group = self.mapping(group_node, "a group", group_keys)
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

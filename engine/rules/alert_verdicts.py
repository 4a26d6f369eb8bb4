"""Alert verdicts: do the alerts of a team's rules file fire, so a deploy must wait?

The rules come from engine.facts.alert_rules; the `require: {alerts: ...}` rule
(engine.rules.thresholds) asks. Two sources answer "does it fire?":

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

Templated rule labels (``{{ ... }}``) are not expanded. No rule kind lives here
(engine.rules.kinds() imports this module and finds none); it imports no HTTP or YAML
library itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

from engine.facts.alert_rules import AlertRule, RulesFile
from engine.facts.prometheus import ActiveAlert, PrometheusError, format_labels
from engine.times import format_duration, format_time

if TYPE_CHECKING:
    from engine.facts.interface import PrometheusAPI
    from engine.facts.prometheus import Labels

__all__ = [
    "AlertInstance",
    "AlertsResult",
    "RuleEvaluation",
    "evaluate_rule",
    "firing_alerts",
]

DEFAULT_INTERVAL = 60.0  # Prometheus's default global evaluation_interval


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
    # what the expr returned over the window, per alert label set: (labels, ((time, value), ...)),
    # for the decision page's plot; an alert's expr returns a series only while its condition holds
    series: tuple[tuple[Labels, tuple[tuple[float, float], ...]], ...] = ()


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


def evaluate_rule(client: PrometheusAPI, rule: AlertRule, *, at: float, step: float | None = None) -> RuleEvaluation:
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
    points: dict[Labels, list[tuple[float, float]]] = {}
    for series in result.series:
        labels = _alert_labels(rule, series.labels)
        times = present.setdefault(labels, set())
        times.update(round(sample.timestamp * 1000) for sample in series.samples)
        points.setdefault(labels, []).extend((sample.timestamp, sample.value) for sample in series.samples)
    if rule.for_ <= 0:  # an instant answer is stamped with the query time
        present = {labels: {last_ms} for labels in present}
    firing = tuple(sorted(labels for labels, times in present.items() if times.issuperset(expected)))
    pending = tuple(
        sorted(labels for labels, times in present.items() if last_ms in times and not times.issuperset(expected))
    )
    return RuleEvaluation(rule, firing, pending, width,
                          series=tuple((labels, tuple(sorted(found))) for labels, found in sorted(points.items())))


def firing_alerts(
    client: PrometheusAPI,
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

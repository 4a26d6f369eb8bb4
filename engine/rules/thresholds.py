"""`require: {threshold: ...}` and `require: {alerts: ...}`: live numbers from Prometheus gate
merges and deploys (and, through `policy rollback-check`, keep or roll back a deploy).

Semantics (engine/rules/threshold_verdicts.py and engine/rules/alert_verdicts.py hold the details):

* threshold: `below` (<), `above` (>), `between` (inclusive); all given must hold for
  EVERY series the query returns. Without `for`, one instant query at the decision's
  time; with `for`, a range query over [now - for, now] and the condition must hold at
  every step (a missing step is not proven). NaN and ±Inf violate. Failing series are
  named with their labels and values. An empty result is "no data": `on_no_data`
  decides (default deny). Server trouble (unreachable, timeout, HTTP 5xx, malformed
  answer, a query Prometheus rejects): `on_error` decides (default deny).
* alerts: a Prometheus alerting-rules file, read from the policy's trust domain (the
  protected ref, or beside the administrator's policy file), never from the change. An
  alert denies while the server reports it firing (or pending, with `deny_when:
  pending`) or while its `expr` held at every step of its `for` window. The server's
  alert list describes the present only, so it is consulted when the decision's time is
  within LIVE_SKEW of the wall clock; a decision pinned to the past (`--now`) relies on
  evaluating the expressions over history.

Nothing here is imported on the push path's hot part: `requests` and `ruamel` load
inside the facts functions, when a rule actually asks.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Literal, NamedTuple

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule

if TYPE_CHECKING:
    from engine.facts.interface import Facts
    from engine.rules.alert_verdicts import AlertsResult
    from engine.rules.threshold_verdicts import ThresholdResult

Action = Literal["deny", "allow", "warn"]  # what a check that cannot pass does (on_error, on_no_data)


class ThresholdParams(NamedTuple):
    query: str
    source: Literal["prometheus"] = "prometheus"
    below: float | None = None
    above: float | None = None
    between: tuple[float, float] | None = None
    for_: str | None = None  # a duration
    on_error: Action = "deny"
    on_no_data: Action = "deny"


class AlertsParams(NamedTuple):
    rules_file: str
    source: Literal["prometheus"] = "prometheus"
    deny_when: Literal["firing", "pending"] = "firing"
    on_error: Action = "deny"


LIVE_SKEW = 300.0  # seconds: Prometheus's staleness window; beyond it "now" is history


class LiveRule(Rule):
    """A rule judged on live data: the same verdict whatever the updates are."""

    default_stages = ("merge", "deploy")
    live = True

    @classmethod
    def sources(cls, params: ThresholdParams | AlertsParams) -> tuple[str, ...]:
        return (params.source,)

    def judge(self, facts: Facts) -> Outcome:
        """A change is judged as by every rule. A measurement (rollback-check: no change, no
        repository) is judged at the rule's stages, for the ref named if any (`refs:`); paths
        and actors play no part, since nothing is changed by anyone."""
        if not facts.measurement:
            return super().judge(facts)
        if facts.stage not in self.stages:
            return self.outcome("skip", f"not judged at stage {facts.stage}")
        if self.refs is not None and facts.updates and not any(self.refs.match(u.ref) for u in facts.updates):
            return self.outcome("skip", "no updated ref matches " + ", ".join(self.refs.patterns))
        return self.enforced(self.check(facts))

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        return self.check(facts)

    @abstractmethod
    def check(self, facts: Facts) -> Outcome:
        """The verdict on live data, the same for every update."""


class RequireThreshold(LiveRule):
    kind = "require.threshold"
    Params = ThresholdParams
    params: ThresholdParams

    def check(self, facts: Facts) -> Outcome:
        from engine.facts.prometheus import PrometheusError
        from engine.rules.threshold_verdicts import evaluate_threshold
        from engine.times import parse_duration

        p = self.params
        for_ = parse_duration(p.for_) if p.for_ else None
        try:
            client = facts.prometheus()
        except PrometheusError as exc:
            return self.by_action(p.on_error, f"cannot ask Prometheus: {exc.message}",
                                  required=p.query, fix=_CONFIG_FIX, error=True)
        result = evaluate_threshold(client, p.query, below=p.below, above=p.above, between=p.between,
                                    for_=for_, at=facts.now)
        outcome = self._judged(result)
        return outcome._replace(data=_plot_data(result, p))

    def _judged(self, result: ThresholdResult) -> Outcome:
        p = self.params
        required = f"{result.required} for `{result.query}`"
        if result.verdict == "pass":
            return self.outcome("pass", result.message, seen=_series_lines(result), required=required)
        if result.verdict == "fail":
            failing = [f"{s.name}: {s.reason}" for s in result.failing]
            held = [f"{s.name} = {s.value:g} (holds)" for s in result.series if not s.violated]
            return self.outcome(
                "fail", result.message, seen=failing + held, required=required,
                fix="the service does not meet the threshold: fix or roll back the release, "
                    "then re-check once the condition has held for the whole window")
        if result.verdict == "no_data":
            return self.by_action(
                p.on_no_data, result.message, required=required,
                fix="check that the metric names and labels in the query exist at that time "
                    "(try it in the Prometheus UI); set on_no_data: allow if no traffic is acceptable")
        kind = f" ({result.error_kind})" if result.error_kind else ""
        return self.by_action(p.on_error, f"Prometheus check failed{kind}: {result.message}",
                              required=required, fix=_ERROR_FIX, error=True)


class RequireAlerts(LiveRule):
    kind = "require.alerts"
    Params = AlertsParams
    params: AlertsParams

    def check(self, facts: Facts) -> Outcome:
        import time

        from engine.facts.alert_rules import RulesFileError, parse_rules
        from engine.facts.prometheus import PrometheusError
        from engine.rules.alert_verdicts import firing_alerts
        from engine.times import format_time

        p = self.params
        on_error, deny_when, path = p.on_error, p.deny_when, p.rules_file
        where = facts.trusted_location(path)
        required = (f"no alert of {where} {'fires' if deny_when == 'firing' else 'fires or is pending'} "
                    f"at {format_time(facts.now)}")
        data = facts.trusted_file(path)
        if data is None:
            return self.by_action(
                on_error, f"the alerting-rules file {where} does not exist", required=required, error=True,
                fix="commit the rules file to the protected ref (or beside the policy file), or fix rules_file")
        try:
            rules = parse_rules(data.decode("utf-8"), source=where)
        except UnicodeDecodeError:
            return self.by_action(on_error, f"the alerting-rules file {where} is not UTF-8 text",
                                  required=required, error=True, fix="save the rules file as UTF-8")
        except RulesFileError as exc:
            return self.by_action(on_error, f"the alerting-rules file is invalid: {exc}", required=required,
                                  error=True, fix="fix the rules file (promtool check rules FILE tells the same)")
        if not rules.alerts:
            return self.by_action(on_error, f"{where} has no alerting rule (only recording rules or none)",
                                  required=required, error=True, fix="point rules_file at a file with `alert:` rules")
        try:
            client = facts.prometheus()
        except PrometheusError as exc:
            return self.by_action(on_error, f"cannot ask Prometheus: {exc.message}", required=required,
                                  fix=_CONFIG_FIX, error=True)
        live = abs(time.time() - facts.now) <= LIVE_SKEW
        result = firing_alerts(client, rules, at=facts.now, deny_when=deny_when, ask_server=live)
        return self._judged(result, required, live)._replace(data=_alerts_plot_data(result))

    def _judged(self, result: AlertsResult, required: str, live: bool) -> Outcome:
        note = "" if live else " (time in the past: judged by evaluating the rules over history, " \
                               "not by the server's current alert list)"
        if result.verdict == "fail":
            seen = [f"{_alert_name(a.alert, a.labels)} {a.state} ({_ORIGIN[a.origin]}): {a.detail}"
                    for a in result.denying]
            return self.outcome(
                "fail", result.message + note, seen=seen, required=required,
                fix="resolve the incident the alert reports (or roll back), then re-check; "
                    "a rule with `for` denies until its condition has been false again")
        if result.verdict == "error":
            return self.by_action(self.params.on_error, result.message, seen=list(result.errors),
                                  required=required, fix=_ERROR_FIX, error=True)
        seen = [f"{e.rule.name} ({e.rule.source}): not firing" + (
            f", {len(e.pending)} pending" if e.pending else "") for e in result.evaluations]
        return self.outcome("pass", result.message + note, seen=seen, required=required)


def _alert_name(alert: str, labels: tuple[tuple[str, str], ...]) -> str:
    """`RolloutErrorRateHigh{service="bad"}`: the alert, then the labels that tell instances apart."""
    inner = ", ".join(f'{key}="{value}"' for key, value in labels if key != "alertname")
    return f"{alert}{{{inner}}}" if inner else alert


MAX_PLOTTED_SERIES = 20  # a plot of more is unreadable; the outcome's text lists every failing one


def _plot_data(result: ThresholdResult, params: ThresholdParams) -> dict[str, object]:
    """What the decision page plots: each series over the judged window, the bounds, the window."""
    return {"kind": "threshold", "query": result.query, "at": result.at, "for": result.for_, "step": result.step,
            "below": params.below, "above": params.above,
            "between": list(params.between) if params.between is not None else None,
            "series": [{"name": s.name or "{}", "violated": s.violated, "points": [list(p) for p in s.points]}
                       for s in result.series[:MAX_PLOTTED_SERIES]],
            "series_total": len(result.series)}


MAX_PLOTTED_ALERTS = 6


def _alerts_plot_data(result: AlertsResult) -> dict[str, object]:
    """What the decision page plots for an alerts rule: per alerting rule, what its expr returned
    over its `for` window (a series exists only while the condition holds), with the bound the
    expr compares against when it ends in one (`... > 0.05`)."""
    import re

    from engine.facts.prometheus import format_labels

    rules = []
    for e in result.evaluations[:MAX_PLOTTED_ALERTS]:
        bound = re.search(r"(>=|<=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$", e.rule.expr)
        firing = set(e.firing)
        rules.append({"name": e.rule.name, "expr": e.rule.expr, "for": e.rule.for_, "step": e.step,
                      "bound": [bound.group(1), float(bound.group(2))] if bound else None,
                      "series": [{"name": format_labels(labels), "violated": labels in firing,
                                  "points": [list(p) for p in points]}
                                 for labels, points in e.series[:MAX_PLOTTED_SERIES]]})
    return {"kind": "alerts", "at": result.at, "rules": rules, "rules_total": len(result.evaluations)}


def _series_lines(result: ThresholdResult) -> list[str]:
    from engine.times import format_time

    return [f"{s.name} = {s.value:g} at {format_time(s.timestamp)}" for s in result.series]


_ORIGIN = {"server": "reported by the server", "evaluated": "evaluated"}
_CONFIG_FIX = "fix sources.prometheus in the policy (url, timeout, and the credential variables it names)"
_ERROR_FIX = ("check that Prometheus at sources.prometheus is up and the query is valid PromQL, then re-check; "
              "the rule's on_error decides what an unanswerable check does (deny, allow or warn)")

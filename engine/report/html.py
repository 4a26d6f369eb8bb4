"""The `html` format: the decision page, one self-contained static HTML file for people under pressure.

It says the verdict in one sentence, lists every rule (status, what was seen, what is
required, how to fix it), and shows what is easier looked at than read: each threshold
rule's series over the judged window with its bounds and the `for:` window shaded, and
each benchmark gate as a forest plot (candidate and baseline with their intervals, the
lowest value the allowed regression admits). Then approvals, evidence and the change.

Nothing is fetched when the page is viewed: the plots are inline SVG drawn by matplotlib
(imported only when a page is written, never by the push hook), the style is inline CSS,
and there is no script. Every text from the change (paths, messages, labels) is escaped.
Status is said in words and symbols, never by colour alone; tables become stacked rows on
a phone.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from engine.decision import Decision, Outcome
from engine.report import ApprovalRecords, Measurement, Rollback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from engine.facts.interface import Facts
    from engine.report import Report

_STATUS = {"pass": ("✓", "passed"), "fail": ("✗", "failed"), "warn": ("!", "warning"),
           "skip": ("–", "not applied"), "error": ("⚠", "error"), "bypassed": ("↷", "bypassed (break-glass)")}
_KIND_SECTIONS = {"require.approvals": "approvals", "require.evidence": "evidence"}


def render(subject: Report, *, verbose: bool = False) -> str:
    """A whole page; `verbose` changes nothing (the page always lists every rule)."""
    if isinstance(subject, Decision):
        return page(subject)
    if isinstance(subject, Measurement):
        return page(subject.decision, measurements=(subject,))
    if isinstance(subject, Rollback):
        return _document(f"changegate: {subject.verdict}", _rollback_header(subject, ()), "")
    return _approvals_page(subject)


MAX_PATHS_SHOWN = 500  # per ref; the rest are counted


def judged_paths(facts: Facts, decision: Decision) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(ref, the paths its judged commits change) for the page's "the change" section: read from
    the facts the rules used (cached when a rule read paths). A ref whose paths cannot be listed
    (a tree or blob pushed as a ref) is left out; its rules' outcomes say why."""
    from engine.change import show
    from engine.facts.interface import Unjudgeable

    found = []
    for update in decision.updates:
        if update.kind == "deletion":
            continue
        try:
            changes = facts.changes_for(update, None)
        except Unjudgeable:
            continue
        found.append((update.name, tuple(sorted(show(path) for path in changes))))
    return tuple(found)


def page(decision: Decision, *, measurements: Sequence[Measurement] = (), rollback: Rollback | None = None,
         paths: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """The decision page of `decision` (for rollback-check: of its last measurement, with the
    watch's `measurements` and final `rollback` verdict above it; `paths`: judged_paths())."""
    if rollback is not None:
        header = _rollback_header(rollback, measurements)
        title = f"changegate: {rollback.verdict} ({decision.policy})"
    else:
        header = _verdict_header(decision, measurements)
        title = f"changegate: {decision.stage} {'allowed' if decision.allowed else 'denied'} ({decision.policy})"
    kinds = {rule.id: rule.kind for rule in decision.rules}
    body = [_rules_section(decision), _plots_section(decision)]
    for kind, name in _KIND_SECTIONS.items():
        body.append(_kind_section(name, [o for o in decision.outcomes if kinds.get(o.rule) == kind]))
    body.append(_change_section(decision, paths))
    return _document(title, header, "".join(body), footer=_footer(decision))


# -- the verdict ------------------------------------------------------------------------------


def verdict_sentence(decision: Decision) -> str:
    """The verdict and why, in one sentence."""
    refs = ", ".join(u.name for u in decision.updates) or "no ref"
    what = {"push": f"The push to {refs}", "merge": f"The merge into {refs}",
            "deploy": f"The deploy of {refs}"}.get(decision.stage, f"The change to {refs}")
    if decision.stage == "deploy" and not any(u.new.strip("0") for u in decision.updates):
        what = "The deploy"
    blocking = [o.rule for o in decision.outcomes if o.denies]
    warnings = [o.rule for o in decision.outcomes if not o.denies and o.status in ("warn", "fail", "error")]
    applied = [o for o in decision.outcomes if o.status != "skip"]
    if blocking:
        why = (f"{len(blocking)} of {len(applied)} applied rule(s) did not pass: {', '.join(blocking)}"
               + (" (a rule could not be evaluated, so nothing is proven)" if decision.crashed else ""))
        return f"{what} is DENIED by policy {decision.policy!r}: {why}."
    note = f", with {len(warnings)} warning(s): {', '.join(warnings)}" if warnings else ""
    bypass = decision.bypass
    if bypass is not None and bypass.status == "granted":
        return (f"{what} is ALLOWED by policy {decision.policy!r} only because {bypass.actor} bypassed "
                f"{len(bypass.rules)} rule(s) that denied it ({', '.join(bypass.rules)}; break-glass, reason: "
                f"{bypass.reason or 'none given'}){note}.")
    return (f"{what} is ALLOWED by policy {decision.policy!r}: all {len(applied)} applied rule(s) "
            f"passed{note}.")


def _verdict_header(decision: Decision, measurements: Sequence[Measurement]) -> str:
    cls = "allowed" if decision.allowed else "denied"
    sub = ""
    if measurements:
        m = measurements[-1]
        sub = f"<p>Measurement {m.number} of {m.total}, judged at {_esc(_time(m.at))}.</p>"
    return (f'<p class="verdict {cls}" role="status"><span aria-hidden="true">{"✓" if decision.allowed else "✗"}'
            f"</span> {_esc(verdict_sentence(decision))}</p>{sub}")


def _rollback_header(rollback: Rollback, measurements: Sequence[Measurement]) -> str:
    word = {"keep": "KEEP the deploy", "rollback": "ROLL BACK the deploy",
            "error": "ERROR: neither keeping nor rolling back is proven"}[rollback.verdict]
    cls = "allowed" if rollback.verdict == "keep" else "denied"
    rows = "".join(
        f'<tr><td data-label="Measurement">{m.number} of {m.total}</td><td data-label="At">{_esc(_time(m.at))}</td>'
        f'<td data-label="Result">{_badge("fail" if m.failed else "pass")}</td>'
        f'<td data-label="Failing rules">{_esc(", ".join(o.rule for o in m.decision.outcomes if o.denies)) or "none"}'
        "</td></tr>" for m in measurements)
    table = ("<h2 id=\"watch\">Measurements</h2><div class=\"wrap\"><table aria-labelledby=\"watch\"><thead><tr>"
             "<th scope=\"col\">Measurement</th><th scope=\"col\">At</th><th scope=\"col\">Result</th>"
             f"<th scope=\"col\">Failing rules</th></tr></thead><tbody>{rows}</tbody></table></div>") if rows else ""
    return (f'<p class="verdict {cls}" role="status">{_esc(word)} (policy {_esc(repr(rollback.policy))}): '
            f"{_esc(rollback.summary)}.</p>{table}")


# -- rules ------------------------------------------------------------------------------------


def _rules_section(decision: Decision) -> str:
    rows = []
    for o in decision.outcomes:
        mode = "" if o.enforcement == "enforce" else ' <span class="note">(evaluate mode: not enforced)</span>'
        seen = "".join(f"<li>{_esc(s)}</li>" for s in o.seen)
        fix = _esc(o.fix) if o.status not in ("pass", "skip") and o.fix else "—"
        rows.append(
            f'<tr id="rule-{_anchor(o.rule)}"><th scope="row" data-label="Rule"><code>{_esc(o.rule)}</code></th>'
            f'<td data-label="Status">{_badge(o.status)}{mode}</td>'
            f'<td data-label="Seen"><p>{_esc(o.message)}</p>{f"<ul>{seen}</ul>" if seen else ""}</td>'
            f'<td data-label="Required">{_esc(o.required) or "—"}</td>'
            f'<td data-label="How to fix">{fix}</td></tr>')
    return ('<section aria-labelledby="rules"><h2 id="rules">Rules</h2><div class="wrap">'
            '<table aria-labelledby="rules">'
            '<thead><tr><th scope="col">Rule</th><th scope="col">Status</th><th scope="col">Seen</th>'
            '<th scope="col">Required</th><th scope="col">How to fix</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div></section>")


def _badge(status: str) -> str:
    symbol, word = _STATUS.get(status, ("?", status))
    return f'<span class="badge {status}"><span aria-hidden="true">{symbol}</span> {word}</span>'


# -- plots ------------------------------------------------------------------------------------


def _plots_section(decision: Decision) -> str:
    try:
        import matplotlib  # noqa: F401 - only to know whether plots can be drawn
    except ImportError:
        if any((o.data or {}).get("kind") in ("threshold", "benchmark", "alerts") for o in decision.outcomes):
            return ('<section aria-labelledby="plots"><h2 id="plots">Plots</h2><p>The plots need matplotlib, '
                    "which is not installed: <code>pip install 'changegate[html]'</code>.</p></section>")
        return ""
    figures = []
    for index, o in enumerate(decision.outcomes):
        data = o.data or {}
        if data.get("kind") == "threshold" and data.get("series"):
            figures.append(_figure(o, threshold_svg(o, index), _threshold_caption(o)))
        elif data.get("kind") == "benchmark":
            figures.append(_figure(o, forest_svg(o, index), _benchmark_caption(o)))
        elif data.get("kind") == "alerts":
            for number, rule in enumerate(data.get("rules", [])):
                caption = _alert_caption(rule, data["at"])
                figures.append(_figure(o, alert_svg(o, rule, data["at"], index * 100 + number, caption), caption))
    if not figures:
        return ""
    return '<section aria-labelledby="plots"><h2 id="plots">Plots</h2>' + "".join(figures) + "</section>"


def _figure(o: Outcome, svg: str, caption: str) -> str:
    word = _STATUS.get(o.status, ("?", o.status))[1]
    return (f'<figure class="plot" id="plot-{_anchor(o.rule)}">{svg}<figcaption><strong><code>{_esc(o.rule)}</code>: '
            f"{word}</strong>. {_esc(caption)}</figcaption></figure>")


def _threshold_caption(o: Outcome) -> str:
    d = o.data or {}
    window = (f"the {_duration(d['for'])} `for:` window ending {_time(d['at'])} (shaded) is judged"
              if d.get("for") else f"one instant query at {_time(d['at'])}")
    more = (f" Showing {len(d['series'])} of {d['series_total']} series."
            if d.get("series_total", 0) > len(d["series"]) else "")
    return f"{d['query']}: {_bounds_text(d)}; {window}.{more}"


def _alert_caption(rule: dict[str, Any], at: float) -> str:
    window = (f"its {_duration(rule['for'])} `for:` window ending {_time(at)} (shaded): it fires when the expr "
              "returns a value at every step" if rule["for"] else f"an instant query at {_time(at)}")
    firing = [s["name"] for s in rule["series"] if s["violated"]]
    state = f"firing for {', '.join(firing)}" if firing else "not firing"
    return (f"alert {rule['name']} ({' '.join(rule['expr'].split())}): {state}; {window}. "
            "A gap is a step where the condition did not hold.")


def _benchmark_caption(o: Outcome) -> str:
    d = o.data or {}
    conf = f"{d['confidence']:.0%}"
    parts = [f"{d['metric']} ({'higher' if d['higher_is_better'] else 'lower'} is better), {conf} intervals"]
    if d.get("regression") is not None:
        ci = d.get("regression_ci")
        parts.append(f"regression {d['regression']:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "")
                     + f", allowed {d['max_regression']:.4g}" if d.get("max_regression") is not None else "")
    return "; ".join(parts) + "."


def _bounds_text(d: dict[str, Any]) -> str:
    parts = []
    if d.get("above") is not None:
        parts.append(f"must stay above {d['above']:g}")
    if d.get("below") is not None:
        parts.append(f"must stay below {d['below']:g}")
    if d.get("between") is not None:
        parts.append(f"must stay between {d['between'][0]:g} and {d['between'][1]:g}")
    return " and ".join(parts) or "no bound"


def _pyplot(index: int) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": f"changegate-{index}",
                                "text.parse_math": False,  # a `$` in a query or label is text, not TeX
                                "font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def threshold_svg(o: Outcome, index: int) -> str:
    """The value of each series over the judged window, the bounds as lines, the `for:` window shaded.
    Violating series are drawn solid with crosses, holding ones dashed with dots: not colour alone."""
    plt = _pyplot(index)
    d = o.data or {}
    fig, ax = plt.subplots(figsize=(7.5, 3.4), layout="constrained")
    at = float(d["at"])
    window = float(d["for"] or 0)
    if window:
        ax.axvspan(_dt(at - window), _dt(at), color="#8fa8c8", alpha=0.25, label=f"for: {_duration(window)} window")
    for series in d["series"]:
        points = series["points"]
        xs = [_dt(t) for t, _ in points]
        ys = [float(v) for _, v in points]
        bad = series["violated"]
        ax.plot(xs, ys, linestyle="-" if bad else "--", marker="x" if bad else ".", linewidth=2 if bad else 1.2,
                color="#b3261e" if bad else "#1b6e3a",
                label=_short(series["name"] if series["name"] != "{}" else "the series")
                + (" (violates)" if bad else " (holds)"))
    for bound, style, word in (("above", (0, (6, 3)), "above"), ("below", (0, (2, 2)), "below")):
        if d.get(bound) is not None:
            ax.axhline(d[bound], color="#333333", linestyle=style, linewidth=1.5,
                       label=f"must stay {word} {d[bound]:g}")
    if d.get("between") is not None:
        low, high = d["between"]
        ax.axhspan(low, high, facecolor="none", edgecolor="#333333", hatch="//", linewidth=1,
                   label=f"allowed: {low:g} to {high:g}")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("value")
    ax.set_title(_short(d["query"], 80), loc="left", fontsize=10)
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.legend(fontsize=8, loc="best", frameon=False)
    return _svg(fig, plt, f"Plot of {o.rule}: {_threshold_caption(o)}")


def alert_svg(o: Outcome, rule: dict[str, Any], at: float, index: int, caption: str) -> str:
    """What an alerting rule's expr returned over its `for:` window (shaded): a series only while
    the condition holds, so gaps are steps where it did not; the expr's own bound as a line."""
    import math

    plt = _pyplot(index)
    fig, ax = plt.subplots(figsize=(7.5, 3.2), layout="constrained")
    window = float(rule["for"] or 0)
    if window:
        ax.axvspan(_dt(at - window), _dt(at), color="#8fa8c8", alpha=0.25, label=f"for: {_duration(window)} window")
    step = float(rule.get("step") or 60)
    for series in rule["series"]:
        xs: list[datetime] = []
        ys: list[float] = []
        last = None
        for t, v in series["points"]:
            if last is not None and t - last > 1.5 * step:  # not drawn across a gap
                xs.append(_dt((t + last) / 2))
                ys.append(math.nan)
            xs.append(_dt(t))
            ys.append(float(v))
            last = t
        bad = series["violated"]
        ax.plot(xs, ys, linestyle="-" if bad else "--", marker="x" if bad else ".", linewidth=2 if bad else 1.2,
                color="#b3261e" if bad else "#7a4d00",
                label=_short(re.sub(r'alertname="[^"]*",? ?', "", series["name"])) + (" (firing)" if bad else ""))
    if rule.get("bound"):
        op, value = rule["bound"]
        ax.axhline(value, color="#333333", linestyle=(0, (6, 3)), linewidth=1.5, label=f"condition: {op} {value:g}")
    if not rule["series"]:
        ax.text(0.5, 0.5, "the expr returned nothing: the condition never held", transform=ax.transAxes,
                ha="center", va="center")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("expr value")
    ax.set_title(_short(f"{rule['name']}: {' '.join(rule['expr'].split())}", 80), loc="left", fontsize=10)
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.legend(fontsize=8, loc="best", frameon=False)
    return _svg(fig, plt, f"Plot of {o.rule}: {caption}")


def forest_svg(o: Outcome, index: int) -> str:
    """Candidate and baseline with their intervals on the metric's axis, the lowest (or highest)
    value the allowed regression admits as a line, and min/max bounds: a forest plot."""
    plt = _pyplot(index)
    d = o.data or {}
    rows = [("candidate", d["candidate"], "o", "#1f4e79")]
    if d.get("baseline"):
        rows.append(("baseline", d["baseline"], "s", "#555555"))
    fig, ax = plt.subplots(figsize=(7.5, 2.2 + 0.7 * len(rows)), layout="constrained")
    for y, (name, m, marker, color) in enumerate(reversed(rows)):
        err = None
        if m.get("low") is not None:
            err = [[m["value"] - m["low"]], [m["high"] - m["value"]]]
        ax.errorbar([m["value"]], [y], xerr=err, fmt=marker, color=color, capsize=5, markersize=8,
                    label=f"{name}: {m['value']:.4g}" + (f" [{m['low']:.4g}, {m['high']:.4g}]" if err else ""))
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
    hib = bool(d.get("higher_is_better"))
    if d.get("baseline") and d.get("max_regression") is not None:
        base, margin = d["baseline"]["value"], d["max_regression"]
        limit = base - margin if hib else base + margin
        ax.axvline(limit, color="#b3261e", linestyle=(0, (6, 3)), linewidth=1.5,
                   label=f"{'lowest' if hib else 'highest'} allowed: {limit:.4g} (max_regression {margin:.4g})")
    for bound, style in (("min", (0, (2, 2))), ("max", (0, (4, 1, 1, 1)))):
        if d.get(bound) is not None:
            ax.axvline(d[bound], color="#333333", linestyle=style, linewidth=1.2, label=f"{bound}: {d[bound]:g}")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"{d['metric']} ({'higher' if hib else 'lower'} is better)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    return _svg(fig, plt, f"Forest plot of {o.rule}: {_benchmark_caption(o)}")


def _svg(fig: Any, plt: Any, title: str) -> str:
    """The figure as an inline <svg> (no XML prolog), scaled by CSS, named for screen readers."""
    from io import StringIO

    out = StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = out.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'^<svg ', f'<svg role="img" aria-label="{_esc(title)}" ', text, count=1)
    return re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", text, count=1)


# -- approvals, evidence, the change ------------------------------------------------------


def _kind_section(name: str, outcomes: list[Outcome]) -> str:
    title = name.capitalize()
    if not outcomes:
        return (f'<section aria-labelledby="{name}"><h2 id="{name}">{title}</h2>'
                f"<p>No {name} rule applies in this policy.</p></section>")
    items = []
    for o in outcomes:
        seen = "".join(f"<li>{_esc(s)}</li>" for s in o.seen) or "<li>nothing recorded</li>"
        still = (f"<p><strong>Still needed:</strong> {_esc(o.required)}</p>"
                 if o.status not in ("pass", "skip") and o.required else "")
        items.append(f'<article><h3><code>{_esc(o.rule)}</code> {_badge(o.status)}</h3><p>{_esc(o.message)}</p>'
                     f"<ul>{seen}</ul>{still}</article>")
    return f'<section aria-labelledby="{name}"><h2 id="{name}">{title}</h2>' + "".join(items) + "</section>"


def _change_section(decision: Decision, paths_by_ref: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    if not decision.updates:  # a measurement of a deploy (rollback-check): nothing was changed
        return ""
    rows = "".join(
        f'<tr><th scope="row" data-label="Ref"><code>{_esc(u.name)}</code></th>'
        f'<td data-label="Kind">{_esc(u.kind)}</td><td data-label="Old"><code>{_esc(u.old[:12])}</code></td>'
        f'<td data-label="New"><code>{_esc(u.new[:12])}</code></td></tr>'
        for u in decision.updates)
    judged = "".join(
        f"<li><code>{_esc(j.ref)}</code>: {_esc(j.basis)}"
        + (f"<ul>{''.join(f'<li><code>{_esc(c[:12])}</code></li>' for c in j.commits[:50])}</ul>" if j.commits else "")
        + (f"<p>and {len(j.commits) - 50} more</p>" if len(j.commits) > 50 else "") + "</li>"
        for j in decision.judged)
    paths = sorted({p for o in decision.outcomes for p in o.paths})
    flagged = ("<h3>Files the rules name</h3><ul>" + "".join(f"<li><code>{_esc(p)}</code></li>" for p in paths[:200])
               + "</ul>") if paths else ""
    for ref, changed in paths_by_ref:
        more = f"<p>and {len(changed) - MAX_PATHS_SHOWN} more</p>" if len(changed) > MAX_PATHS_SHOWN else ""
        items = "".join(f"<li><code>{_esc(p)}</code></li>" for p in changed[:MAX_PATHS_SHOWN])
        flagged += (f"<h3>Paths judged in <code>{_esc(ref)}</code> ({len(changed)})</h3>"
                    f"<ul class=\"paths\">{items or '<li>none</li>'}</ul>{more}")
    return ('<section aria-labelledby="change"><h2 id="change">The change</h2><div class="wrap">'
            '<table aria-labelledby="change"><thead><tr><th scope="col">Ref</th><th scope="col">Kind</th>'
            f'<th scope="col">Old</th><th scope="col">New</th></tr></thead><tbody>{rows}</tbody></table></div>'
            f"<h3>Commits judged</h3><ul>{judged or '<li>no commits (no rule looked at commits or paths)</li>'}</ul>"
            f"{flagged}</section>")


def _footer(decision: Decision) -> str:
    source = f" from <code>{_esc(decision.policy_source)}</code>" if decision.policy_source else ""
    return (f"<p>Policy <code>{_esc(decision.policy)}</code>{source}, "
            f"digest <code>{_esc(decision.policy_digest)}</code>; "
            f"stage {_esc(decision.stage)}; actor {_esc(decision.actor.name) or 'unknown'}.</p>")


def _approvals_page(listing: ApprovalRecords) -> str:
    rows = "".join(
        f'<tr><th scope="row" data-label="Approver">{_esc(str(r.get("approver", "?")))}</th>'
        f'<td data-label="Decision">{_esc(str(r.get("decision", "")))}</td>'
        f'<td data-label="Status">{_badge("pass" if r["status"] == "valid" else "warn")} {_esc(r["status"])}</td>'
        f'<td data-label="Why">{_esc(str(r.get("reason", "")))}</td></tr>' for r in listing.records)
    header = (f'<p class="verdict" role="status">{len(listing.records)} approval record(s) on commit '
              f"{_esc(listing.commit[:12])}" + ("" if listing.verified else "; signatures NOT checked") + ".</p>")
    table = ('<section aria-labelledby="records"><h2 id="records">Records</h2><div class="wrap"><table '
             'aria-labelledby="records"><thead><tr><th scope="col">Approver</th><th scope="col">Decision</th>'
             f'<th scope="col">Status</th><th scope="col">Why</th></tr></thead><tbody>{rows}</tbody>'
             "</table></div></section>")
    return _document("changegate: approval records", header, table)


# -- the document -----------------------------------------------------------------------------

_CSS = """
:root{--fg:#1a1a1a;--bg:#fff;--muted:#555;--line:#ccc;--ok:#1b6e3a;--bad:#b3261e;--warn:#7a4d00}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:72rem;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem}code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
tbody th code{overflow-wrap:normal;white-space:nowrap}
.verdict{font-size:1.15rem;font-weight:600;padding:.8rem 1rem;border-left:.4rem solid;margin:1rem 0}
.verdict.allowed{border-color:var(--ok);background:#eaf5ee}.verdict.denied{border-color:var(--bad);background:#fbeceb}
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid var(--line)}
td{overflow-wrap:anywhere}
td ul,td p{margin:0 0 .3rem;padding-left:1.1rem}td p{padding-left:0}
.badge{display:inline-block;white-space:nowrap;font-weight:600;padding:0 .4rem;border:1px solid;border-radius:.3rem}
.badge.pass{color:var(--ok)}.badge.fail,.badge.error{color:var(--bad)}.badge.warn,.badge.bypassed{color:var(--warn)}
.badge.skip{color:var(--muted)}.note{color:var(--muted);font-size:.9em}
figure.plot{margin:1rem 0}figure.plot svg{display:block;width:100%;max-width:48rem;height:auto}
figcaption{color:var(--muted);font-size:.9rem;overflow-wrap:anywhere}
footer{margin-top:2rem;color:var(--muted);font-size:.9rem;overflow-wrap:anywhere}
@media (max-width:40rem){
 table,thead,tbody,tr,th,td{display:block}thead{position:absolute;left:-9999px}
 tr{border:1px solid var(--line);border-radius:.3rem;margin-bottom:.6rem;padding:.3rem}
 td,tbody th{border:0;padding:.2rem .3rem}
 td::before,tbody th::before{content:attr(data-label);display:block;font-size:.8rem;color:var(--muted);font-weight:600}
}
"""


def _document(title: str, header: str, body: str, footer: str = "") -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_esc(title)}</h1>{header}</header><main>{body}</main>"
            f"<footer>{footer}<p>Written by changegate at {generated}. This page is static: it loads nothing.</p>"
            "</footer></body></html>\n")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _anchor(rule: str) -> str:
    return re.sub(r"[^a-z0-9._-]", "-", rule.lower())


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _time(t: float) -> str:
    from engine.times import format_time

    return format_time(t)


def _duration(seconds: float) -> str:
    from engine.times import format_duration

    return format_duration(seconds)

"""The decision page (`--html FILE`, the `html` format): written by the real commands, then loaded
from file in a real headless Chromium, which must show the verdict, draw every plot visibly, log
no console error, fetch nothing, and fit a phone's width."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gates.gates_support import Repo, write_policy
from tests.helpers.browser import Page, browser, dump_dom
from tests.helpers.prometheus import PrometheusServer
from tests.helpers.repos import policy_cli

DATA = Path(__file__).parent.parent / "benchmarks" / "data"
BAD = 'sum(rate(errors_total{service="bad"}[1m])) / sum(rate(requests_total{service="bad"}[1m]))'
GOOD = 'sum(rate(errors_total{service="good"}[1m])) / sum(rate(requests_total{service="good"}[1m]))'


def canary(url: str) -> str:
    return f"""version: 1
name: canary
sources:
  prometheus: {{url: "{url}", timeout: 2s}}
rules:
  - id: bad-errors
    on: [deploy]
    require:
      threshold: {{query: {json.dumps(BAD)}, below: 0.05, for: 15m}}
  - id: good-errors
    on: [deploy]
    require:
      threshold: {{query: {json.dumps(GOOD)}, below: 0.05, for: 15m}}
"""


@pytest.fixture
def rollback_page(tmp_path: Path, prometheus_server: PrometheusServer) -> Path:
    """A rollback: the bad service's error rate rises 60 minutes before the end of the history,
    inside the 15m window judged at end-50m."""
    policy = write_policy(tmp_path, canary(prometheus_server.url))
    html = tmp_path / "out" / "decision.html"
    html.parent.mkdir()
    proc = policy_cli("rollback-check", "--policy", str(policy), "--now",
                      str(prometheus_server.history.at(50 * 60)), "--format", "json", "--html", str(html))
    assert proc.returncode == 1, proc.stderr
    assert f"decision page: {html}" in proc.stderr
    return html


def benchmark_policy() -> str:
    return f"""version: 1
name: evals
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
  - id: hellaswag
    on: [merge]
    require:
      benchmark:
        results: {{file: "{DATA / 'lm_eval_v04.json'}"}}
        baseline: {{file: "{DATA / 'lm_eval_v04_baseline.json'}"}}
        format: lm-eval
        metric: "hellaswag:acc,none"
        max_regression: 0.01
"""


@pytest.fixture
def merge_page(tmp_path: Path) -> Path:
    repo = Repo(tmp_path)
    policy = write_policy(tmp_path, benchmark_policy())
    html = tmp_path / "merge.html"
    proc = policy_cli("check", "--repo", str(repo.path), "--policy", str(policy), "--ref", "refs/heads/main",
                      "--old", repo.base, "--new", repo.head, "--stage", "merge", "--html", str(html))
    assert proc.returncode == 1, proc.stderr
    return html


def load(page: Page, html: Path, **size: int) -> None:
    page.open(html.as_uri(), **size)
    assert page.console_errors == []
    assert [u for u in page.requests if not u.startswith("file:")] == []  # nothing fetched


VISIBLE_PLOTS = """[...document.querySelectorAll('figure.plot svg')].map(svg => {
  const box = svg.getBoundingClientRect(), style = getComputedStyle(svg);
  return {w: box.width, h: box.height, shown: style.display !== 'none' && style.visibility === 'visible'
          && style.opacity !== '0', paths: svg.querySelectorAll('path').length,
          label: svg.getAttribute('aria-label')};
})"""


def test_a_rollback_page_states_the_verdict_and_plots_each_threshold_window(tmp_path: Path,
                                                                             rollback_page: Path) -> None:
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, rollback_page)
        text = page.evaluate("document.body.innerText")
        assert "ROLL BACK the deploy" in text and "1 of 1 measurement(s) failed" in text
        plots = page.evaluate(VISIBLE_PLOTS)
        assert len(plots) == 2
        for plot in plots:
            assert plot["shown"] and plot["w"] > 300 and plot["h"] > 100 and plot["paths"] > 20, plot
        assert "must stay below 0.05" in plots[0]["label"] and "15m `for:` window" in plots[0]["label"]
        shot = page.screenshot(tmp_path / "rollback.png")
        assert shot.startswith(b"\x89PNG") and len(shot) > 20_000


def test_the_page_names_the_violation_in_words_not_only_colour(rollback_page: Path) -> None:
    html = rollback_page.read_text()
    assert "✗</span> failed" in html and "✓</span> passed" in html  # a symbol and a word per status
    assert "0.055 is not below 0.05" in html


def test_a_merge_page_has_a_forest_plot_of_the_benchmark(tmp_path: Path, merge_page: Path) -> None:
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, merge_page)
        text = page.evaluate("document.body.innerText")
        assert "The merge into refs/heads/main is DENIED by policy 'evals'" in text
        assert "Paths judged in refs/heads/main (1)" in text and "prompts/system.txt" in text
        [plot] = page.evaluate(VISIBLE_PLOTS)
        assert plot["shown"] and plot["w"] > 300 and plot["h"] > 80, plot
        assert "Forest plot of hellaswag" in plot["label"] and "allowed 0.01" in plot["label"]
        rows = page.evaluate("[...document.querySelectorAll('#rules ~ .wrap tbody tr')].map(r => r.id)")
        assert rows == ["rule-no-weights", "rule-hellaswag"]
        page.screenshot(tmp_path / "merge.png")


def test_the_page_fits_a_phone(tmp_path: Path, merge_page: Path) -> None:
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, merge_page, width=375, height=800, mobile=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        [plot] = page.evaluate(VISIBLE_PLOTS)
        assert 200 < plot["w"] <= 375, plot
        page.screenshot(tmp_path / "phone.png")


def test_dump_dom_states_the_verdict(tmp_path: Path, merge_page: Path) -> None:
    dom = dump_dom(tmp_path, merge_page.as_uri())
    assert 'role="status"' in dom and "is DENIED by policy" in dom


def test_hostile_text_from_the_change_is_inert(tmp_path: Path) -> None:
    """A file name is chosen by whoever pushes: on the page it is text, never markup or script."""
    from engine import report
    from engine.decision import Outcome
    from tests.report.test_formats import DECISION

    evil = '--><img src=x onerror="console.error(1)"><script>console.error(2)</script>.gguf'
    outcome = Outcome("no-weights", "fail", f"{evil} is denied", (evil,), "no *.gguf", paths=(evil,))
    # series labels come from Prometheus: in a plot's legend they must stay text too
    series = Outcome("canary", "fail", "x", data={
        "kind": "threshold", "query": evil, "at": 1_700_000_000.0, "for": 60.0, "step": 15.0, "below": 0.05,
        "above": None, "between": None, "series_total": 1,
        "series": [{"name": evil, "violated": True,
                    "points": [[1_700_000_000.0 - 60 + 15 * k, 0.1] for k in range(5)]}]})
    html = tmp_path / "evil.html"
    html.write_text(report.render("html", DECISION._replace(outcomes=(outcome, series))))
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, html)  # no console error: nothing ran
        assert page.evaluate("document.querySelectorAll('img, script').length") == 0
        assert evil in page.evaluate("document.body.innerText")


def test_long_words_wrap_inside_the_phone_width(tmp_path: Path, merge_page: Path) -> None:
    """A long path in `seen` stays inside its cell at phone width (nothing is cut off)."""
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, merge_page, width=375, height=800, mobile=True)
        overflowing = page.evaluate("[...document.querySelectorAll('td, li, p, figcaption')]"
                                    ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
        assert overflowing == []


ROLLOUT = (Path(__file__).parent.parent / "facts_prometheus" / "rollout_alerts.yml").read_text()


def test_an_alerts_rule_plots_what_its_expr_returned_over_its_for_window(
        tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    """At the end of the history the bad service's alert fires (a series at every step of its 5m
    window) and the flaky one's is pending (its series starts 3 minutes before)."""
    (tmp_path / "rollout_alerts.yml").write_text(ROLLOUT)
    policy = write_policy(tmp_path, f"""version: 1
name: canary
sources:
  prometheus: {{url: "{prometheus_server.url}", timeout: 2s}}
rules:
  - id: rollout-alerts
    on: [deploy]
    require:
      alerts: {{rules_file: rollout_alerts.yml}}
""")
    html = tmp_path / "alerts.html"
    proc = policy_cli("rollback-check", "--policy", str(policy), "--now", str(prometheus_server.history.end),
                      "--html", str(html))
    assert proc.returncode == 1, proc.stderr
    with browser(tmp_path) as chrome:
        page = chrome.new_page()
        load(page, html)
        [plot] = page.evaluate(VISIBLE_PLOTS)
        assert plot["shown"] and plot["w"] > 300 and plot["h"] > 100, plot
        assert "alert RolloutErrorRateHigh" in plot["label"]
        assert 'firing for {alertname="RolloutErrorRateHigh", service="bad", severity="page"}' in plot["label"]
        assert "flaky" not in plot["label"].split("firing for")[1].split(";")[0]  # pending, not firing
        page.screenshot(tmp_path / "alerts.png")

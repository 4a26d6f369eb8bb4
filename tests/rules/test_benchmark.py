"""`require: {benchmark}` through the Facts interface: result files a CI job wrote (in the working
directory), compared with the statistics of engine/stats.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rules._memory import outcome

POLICY = """\
version: 1
rules:
  - id: accuracy
    require:
      benchmark:
        format: json
        metric: acc
        results: {{file: {candidate}}}
        baseline: {{file: {baseline}}}
        max_regression: 0.01
"""


def results(path: Path, value: float, stderr: float) -> Path:
    path.write_text(json.dumps({"acc": value, "acc_stderr": stderr}))
    return path


def policy(candidate: Path, baseline: Path) -> str:
    return POLICY.format(candidate=json.dumps(str(candidate)), baseline=json.dumps(str(baseline))).replace(
        "results: {file:", "results: {stderr_key: acc_stderr, file:").replace(
        "baseline: {file:", "baseline: {stderr_key: acc_stderr, file:")


def test_a_clear_regression_fails(tmp_path: Path) -> None:
    found = outcome(policy(results(tmp_path / "c.json", 0.70, 0.002), results(tmp_path / "b.json", 0.80, 0.002)))
    assert found.status == "fail" and "candidate: acc = 0.7" in found.seen[0]


def test_no_regression_passes(tmp_path: Path) -> None:
    found = outcome(policy(results(tmp_path / "c.json", 0.81, 0.002), results(tmp_path / "b.json", 0.80, 0.002)))
    assert found.status == "pass"


def test_a_missing_candidate_file_is_named_with_its_absolute_path(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    found = outcome(policy(Path("absent.json"), results(tmp_path / "b.json", 0.80, 0.002)))
    assert found.status == "error" and f"the results file {tmp_path / 'absent.json'} does not exist" in found.message

"""The quick start's demo runs on a fresh machine and shows accepted and rejected pushes."""

from __future__ import annotations

from tests.helpers.repos import policy_cli


def test_demo_runs_and_every_scenario_behaves() -> None:
    proc = policy_cli("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[DENY] no-weights-in-git" in proc.stdout
    assert "[DENY] protect-main" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert "ok   with evidence, still no review: rejected" in proc.stdout
    assert "ok   with evidence and approval: accepted" in proc.stdout
    assert "ok   tree tag with weights: rejected" in proc.stdout
    assert "remote: [BYPASSED] prompts-need-review" in proc.stdout
    assert "ok   break-glass revert: accepted" in proc.stdout
    assert "reason: INC-4711: revert bad prompt" in proc.stdout

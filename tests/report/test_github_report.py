"""GitHub reporters: attacker-controlled paths and messages cannot forge commands or table rows."""

from __future__ import annotations

from engine.change import Actor, RefUpdate
from engine.decision import Decision, Outcome
from engine.report.github import (
    check_run_output,
    escape_data,
    escape_property,
    markdown_cell,
    step_summary,
    workflow_commands,
)

HOSTILE = "100%:done,now\n::error::forged.gguf"


def decision(*outcomes: Outcome) -> Decision:
    return Decision("llm-remediation", "sha256:ab", "merge", Actor("octocat", "github", "event"),
                    (RefUpdate("a" * 40, "b" * 40, b"refs/heads/main"),), outcomes)


DENIED = Outcome("no-weights", "fail", "weights in git", ("commit 1 adds x",), "no *.gguf", "remove it",
                 paths=(HOSTILE,))
WARNED = Outcome("notebooks", "warn", "a notebook", enforcement="evaluate")
PASSED = Outcome("protect-main", "pass", "fast-forward")


def test_escaping_matches_the_runners_decoding() -> None:
    assert escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert escape_property("a%b:c,d\n") == "a%25b%3Ac%2Cd%0A"


def test_a_hostile_file_name_stays_inside_one_annotation() -> None:
    lines = workflow_commands(decision(DENIED, WARNED, PASSED))
    assert lines[0] == ("::error file=100%25%3Adone%2Cnow%0A%3A%3Aerror%3A%3Aforged.gguf,line=1,"
                        "title=changegate%3A no-weights::weights in git Required: no *.gguf To fix: remove it")
    assert lines[1] == "::warning title=changegate%3A notebooks::a notebook"
    assert len(lines) == 2 and all("\n" not in line for line in lines)


def test_summary_table_cannot_be_broken_by_a_message() -> None:
    evil = Outcome("r", "fail", "x | y\n| forged | row |", ("<img src=x>",), fix="[click](http://e)")
    table = step_summary(decision(evil, WARNED))
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    assert "&lt;img src=x&gt;" in rows[0] and "\\[click\\](http://e)" in rows[0]
    assert "## changegate: merge denied" in table
    assert "(evaluate mode)" in rows[1]
    assert markdown_cell("a|b") == "a\\|b"


def test_check_run_output_annotates_offending_files_and_explains_failures() -> None:
    output = check_run_output(decision(DENIED, WARNED, PASSED))
    assert output.title == "1 rule(s) failed (llm-remediation)"
    [annotation] = output.annotations
    assert annotation.path == HOSTILE and annotation.annotation_level == "failure"
    assert output.text is not None and "### no-weights: fail" in output.text and "protect-main" not in output.text
    assert check_run_output(decision(PASSED)).title == "all rules satisfied (llm-remediation)"

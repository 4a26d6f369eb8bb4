"""Rego evaluated in-process (regopy): results, located errors, strict built-ins, and `test_*` rules."""

from __future__ import annotations

import pytest

from engine.rego import Module, RegoError, evaluate, run_tests
from engine.rego.embedded import UNDEFINED

POLICY = Module("rego/changegate.rego", """package changegate

import rego.v1

deny contains msg if {
\tsome c in input.commits
\tendswith(c.author.email, "@evil.example")
\tmsg := sprintf("commit %s is by an outside author", [c.oid])
}
""")


def test_package_query_returns_its_rules() -> None:
    value = evaluate([POLICY], "data.changegate", '{"commits": [{"oid": "c1", "author": {"email": "m@evil.example"}}]}')
    assert value == {"deny": ["commit c1 is by an outside author"]}


def test_query_naming_nothing_is_undefined() -> None:
    assert evaluate([POLICY], "data.other", "{}") is UNDEFINED


def test_syntax_error_is_located_by_file_line_and_column() -> None:
    broken = Module("rego/broken.rego", "package changegate\n\ndeny contains msg if {\n")
    with pytest.raises(RegoError) as caught:
        evaluate([broken], "data.changegate", "{}")
    assert caught.value.problems[0] == "rego/broken.rego:3:22: this is unclosed"


def test_builtin_error_is_an_error_not_a_silent_allow() -> None:
    typed = Module("t.rego", 'package changegate\nimport rego.v1\n'
                             'deny contains msg if { msg := sprintf("%d", ["x"]) }\n')
    with pytest.raises(RegoError, match="sprintf"):
        evaluate([typed], "data.changegate", "{}")


def test_conflicting_values_are_an_error() -> None:
    conflict = Module("c.rego", "package changegate\nf(a) := 1 if a == 1\nf(a) := 2 if a == 1\nv := f(1)\n")
    with pytest.raises(RegoError, match="eval_conflict_error"):
        evaluate([conflict], "data.changegate", "{}")


def test_data_files_are_merged_into_data() -> None:
    limits = Module("l.rego", "package changegate\nimport rego.v1\nwarn contains m if { m := data.limits.note }\n")
    assert evaluate([limits], "data.changegate.warn", "{}", data=['{"limits": {"note": "hi"}}']) == ["hi"]


def test_run_tests_reports_each_test_rule() -> None:
    tests = Module("rego/changegate_test.rego", """package changegate_test

import rego.v1

import data.changegate

test_outside_author_denied if {
\tcount(changegate.deny) == 1 with input.commits as [{"oid": "c1", "author": {"email": "m@evil.example"}}]
}

test_insider_passes if {
\tcount(changegate.deny) == 0 with input.commits as [{"oid": "c2", "author": {"email": "ann@example.com"}}]
}

test_wrong_expectation if {
\tcount(changegate.deny) == 0 with input.commits as [{"oid": "c3", "author": {"email": "m@evil.example"}}]
}

test_erring if {
\tsprintf("%d", ["x"]) == ""
}

todo_test_later if {
\tfalse
}
""")
    results = {r.name: r for r in run_tests([POLICY, tests])}
    assert sorted(results) == [f"data.changegate_test.{n}" for n in
                               ("test_erring", "test_insider_passes", "test_outside_author_denied",
                                "test_wrong_expectation")]
    assert results["data.changegate_test.test_outside_author_denied"].passed
    assert results["data.changegate_test.test_insider_passes"].passed
    assert (results["data.changegate_test.test_wrong_expectation"].passed,
            results["data.changegate_test.test_wrong_expectation"].message) == (False, "undefined")
    erring = results["data.changegate_test.test_erring"]
    assert not erring.passed and erring.message.startswith("error: sprintf")


def test_run_tests_on_a_broken_module_raises() -> None:
    with pytest.raises(RegoError, match="unclosed"):
        run_tests([Module("b.rego", "package x\ntest_a if {\n")])

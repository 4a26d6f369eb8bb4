"""`rego:` judged on changes described as data (MemoryFacts): conftest's deny/warn, errors that
deny unless on_error says otherwise, the other rules' outcomes in the input, and policy checks."""

from __future__ import annotations

import pytest

from engine.change import Change, ChangedPath, Commit, RefUpdate
from engine.facts.memory import MemoryFacts
from engine.judge import judge
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from tests.rules._memory import ACTOR, NEW, OLD, TREE, commit, outcome

MODULE = b"""package changegate

import rego.v1

deny contains msg if {
\tsome p in input.paths
\tendswith(p.path, ".safetensors")
\tmsg := sprintf("%s: weights belong in the model registry", [p.path])
}

warn contains {"msg": "large file", "path": p.path} if {
\tsome p in input.paths
\tis_number(p.size)
\tp.size > 1000
}
"""


def rego_policy(body: str = "{modules: [rego/changegate.rego]}", extra: str = "") -> str:
    return f"version: 1\nname: t\nrules:\n{extra}  - id: rego-rule\n    rego: {body}\n"


def judged(body: str = "{modules: [rego/changegate.rego]}", *, files: dict[str, bytes] | None = None,
           commits: tuple[Commit, ...] = (commit("README.md"),), sizes: dict[str, int] | None = None,
           extra: str = "") -> object:
    policy = rego_policy(body, extra)
    found = outcome(policy, commits=commits, trusted_files={"rego/changegate.rego": MODULE} if files is None
                    else files, sizes=sizes or {})
    return found


def test_deny_message_fails_the_rule_with_it() -> None:
    o = judged(commits=(commit("models/w.safetensors"),))
    assert (o.status, o.message) == ("fail", "models/w.safetensors: weights belong in the model registry")


def test_warn_message_with_path_is_a_warning_with_an_annotation() -> None:
    big = Commit(NEW, TREE, (OLD,), "Ann", "ann@example.com", (ChangedPath(b"data.csv", "A", "e" * 40, "100644"),))
    o = judged(commits=(big,), sizes={"e" * 40: 5000})
    assert (o.status, o.message, o.paths) == ("warn", "large file", ("data.csv",))


def test_no_message_passes() -> None:
    assert judged().status == "pass"


def test_missing_module_denies_as_an_error() -> None:
    o = judged(files={})
    assert o.status == "error" and "rego/changegate.rego does not exist" in o.message


def test_syntax_error_denies_with_the_location() -> None:
    o = judged(files={"rego/changegate.rego": b"package changegate\ndeny contains msg if {\n"})
    assert o.status == "error"
    assert "rego/changegate.rego:2:22: this is unclosed" in o.message


def test_on_error_allow_passes_but_says_why() -> None:
    o = judged("{modules: [rego/changegate.rego], on_error: allow}", files={})
    assert o.status == "pass" and o.message.startswith("allowed by policy although")


def test_undefined_query_is_an_error_not_an_allow() -> None:
    o = judged("{modules: [rego/changegate.rego], query: data.chnagegate}")
    assert o.status == "error" and "data.chnagegate is undefined" in o.message


def test_evaluate_mode_reports_a_denial_as_a_warning() -> None:
    o = judged("{modules: [rego/changegate.rego]}\n    enforcement: evaluate", commits=(commit("w.safetensors"),))
    assert o.status == "warn"


def test_invalid_data_file_is_an_error() -> None:
    o = judged("{modules: [rego/changegate.rego], data: [rego/data.json]}",
               files={"rego/changegate.rego": MODULE, "rego/data.json": b"[1, 2]"})
    assert o.status == "error" and "not a JSON object" in o.message


def test_rego_sees_the_other_rules_outcomes_whatever_their_order() -> None:
    module = b"""package changegate

import rego.v1

deny contains msg if {
\tsome o in input.outcomes
\to.kind == "deny_paths"
\to.status == "fail"
\tmsg := sprintf("rule %s failed, so this change needs a second look", [o.rule])
}
"""
    policy = ("version: 1\nname: t\nrules:\n  - id: rego-rule\n    rego: {modules: [m.rego]}\n"
              "  - id: weights\n    deny_paths: ['*.bin']\n")  # judged before the rego rule all the same
    compiled = compile_policy(policy.encode(), "policy.yml")
    update = RefUpdate(OLD, NEW, b"refs/heads/main")
    facts = MemoryFacts(Change((update,), ACTOR, "push"), brings={update.ref: [commit("w.bin")]}, policy=compiled,
                        trusted_files={"m.rego": module})
    decision = judge(compiled, facts)
    assert [o.rule for o in decision.outcomes] == ["rego-rule", "weights"]  # reported in policy order
    rego = decision.outcomes[0]
    assert (rego.status, rego.message) == ("fail", "rule weights failed, so this change needs a second look")


def test_opa_rule_needs_sources_opa() -> None:
    with pytest.raises(PolicyError, match=r"sources\.opa is not configured"):
        compile_policy(rego_policy("{opa: {path: changegate/deny}}").encode(), "p.yml")


def test_modules_and_opa_together_are_refused() -> None:
    policy = "version: 1\nsources: {opa: {url: 'http://127.0.0.1:8181'}}\n" + rego_policy(
        "{modules: [a.rego], opa: {path: changegate}}").split("\n", 1)[1]
    with pytest.raises(PolicyError):
        compile_policy(policy.encode(), "p.yml")


def test_query_must_be_a_data_reference() -> None:
    with pytest.raises(PolicyError, match="query"):
        compile_policy(rego_policy("{modules: [a.rego], query: 'data.x; true'}").encode(), "p.yml")


def test_modules_and_opa_together_are_explained_with_the_schemas_words() -> None:
    policy = "version: 1\nsources: {opa: {url: 'http://127.0.0.1:8181'}}\nrules:\n  - id: r\n" \
             "    rego: {modules: [a.rego], opa: {path: changegate}}\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy(policy.encode(), "p.yml")
    assert "p.yml:5:11: rules[0] (id 'r').rego is not allowed as written: A policy written in Rego" in str(caught.value)
    assert "not both" in str(caught.value)

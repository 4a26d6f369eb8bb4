"""The Rego input document: the published schema and per-stage examples agree with the builder,
and a real repository's change (GitFacts) yields a valid document with the sizes git stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine.change import Actor, Change, ChangedPath, Commit, Inputs, RefUpdate
from engine.decision import Outcome
from engine.facts.gitfacts import GitFacts
from engine.facts.memory import MemoryFacts
from engine.git import Git
from engine.policy.patterns import Matcher, compile_patterns
from engine.rego.input import MAX_COMMITS, InputTooLarge, input_document
from tests.helpers.repos import Clone, Server
from tests.rego.examples import EXAMPLES, SCHEMA, STAGES, render


def _validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("stage", STAGES)
def test_published_example_is_current_and_valid(stage: str) -> None:
    path = EXAMPLES / f"rego-input.{stage}.json"
    assert path.read_text() == render(stage), "rewrite the examples: python -m tests.rego.examples"
    errors = [e.message for e in _validator().iter_errors(json.loads(path.read_text()))]
    assert errors == []


def test_examples_differ_by_stage_in_what_other_rules_found() -> None:
    docs = {stage: json.loads((EXAMPLES / f"rego-input.{stage}.json").read_text()) for stage in STAGES}
    assert [len(docs[s]["approvals"]) for s in STAGES] == [0, 1, 1]
    assert [len(docs[s]["evidence"]) for s in STAGES] == [0, 0, 1]
    assert {d["stage"] for d in docs.values()} == set(STAGES)


def test_schema_rejects_a_document_missing_a_field() -> None:
    doc = json.loads(render("push"))
    del doc["commits"][0]["author"]
    assert any("author" in e.message for e in _validator().iter_errors(doc))


def test_real_change_gives_valid_document_with_git_sizes_and_statuses(tmp_path: Path) -> None:
    server = Server(tmp_path, "version: 1\nrules:\n  - id: r\n    deny: [deletion]\n")
    clone = Clone(tmp_path, server)
    clone.write("keep.txt", "keep\n")
    clone.write("gone.txt", "gone\n")
    base = clone.commit("base")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.write("big.bin", b"\0" * 5000)
    clone.write("keep.txt", "changed\n")
    clone.git("rm", "-q", "gone.txt")
    new = clone.commit("second")
    clone.git("push", "-q", str(server.path), "HEAD:refs/heads/topic")  # objects present, judged as main's update
    update = RefUpdate(base, new, b"refs/heads/main")
    facts = GitFacts(Git(str(server.path)), Change((update,), Actor("ann", "git", "USER"), "push"),
                     inputs=Inputs(now=0.0), policy={"name": "p", "digest": "sha256:0"})
    main = Matcher(compile_patterns(["refs/heads/main"]), ["refs/heads/main"])  # old..new, as a refs: rule
    doc = input_document(facts, refs=main, earlier=[("deny", Outcome("r", "pass", "fine"))])
    assert [e.message for e in _validator().iter_errors(doc)] == []
    by_path = {p["path"]: p for p in doc["paths"]}
    assert (by_path["big.bin"]["status"], by_path["big.bin"]["size"]) == ("A", 5000)
    assert (by_path["keep.txt"]["status"], by_path["keep.txt"]["size"]) == ("M", len("changed\n"))
    assert (by_path["gone.txt"]["status"], by_path["gone.txt"]["size"]) == ("D", None)
    assert doc["updates"][0]["fast_forward"] is True
    assert doc["commits"][0]["author"] == {"name": "Ann Author", "email": "ann@example.com"}
    assert doc["outcomes"] == [{"rule": "r", "kind": "deny", "status": "pass", "message": "fine", "seen": [],
                                "enforcement": "enforce", "paths": []}]


def _memory(commits: list[Commit], path: bytes = b"refs/heads/main") -> MemoryFacts:
    update = RefUpdate("a" * 40, commits[-1].oid, path)
    return MemoryFacts(Change((update,), Actor("ann", "cli", "--actor"), "merge"), brings={path: commits},
                       inputs=Inputs(now=0.0))


def test_non_utf8_path_is_escaped_not_dropped() -> None:
    commit = Commit("b" * 40, "c" * 40, ("a" * 40,), "Ann", "a@x", (ChangedPath(b"w\xff\n.bin", "A"),))
    doc = input_document(_memory([commit]))
    assert [p["path"] for p in doc["paths"]] == ["w\\xff\n.bin"]


def test_change_over_the_commit_cap_is_refused_naming_the_cap() -> None:
    commits = [Commit(f"{i:040x}", "c" * 40, (), "Ann", "a@x", ()) for i in range(1, MAX_COMMITS + 2)]
    with pytest.raises(InputTooLarge, match=f"{MAX_COMMITS:,} commits"):
        input_document(_memory(commits))

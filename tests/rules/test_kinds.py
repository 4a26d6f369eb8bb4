"""The rule-kind seam: each kind declares itself in its module; the registry, the published
schema, the loader and the compiler all follow from those declarations."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

import engine.rules
from engine.change import Actor, Change, RefUpdate
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.policy import PolicyError
from engine.policy import load as load_module
from engine.policy import schema as schema_module
from engine.policy.compile import compile_policy
from engine.policy.schema import assemble, fragment_path, render
from engine.resources import resource
from engine.rules import build_rules, kinds
from engine.rules.base import parse_params
from tests.helpers.repos import git as git_cli


def defaults(params_type: type[Any]) -> dict[str, Any]:
    if dataclasses.is_dataclass(params_type):
        return {f.name: f.default for f in dataclasses.fields(params_type)
                if f.default is not dataclasses.MISSING}
    return dict(params_type._field_defaults)


def fields(params_type: type[Any]) -> list[str]:
    if dataclasses.is_dataclass(params_type):
        return [f.name for f in dataclasses.fields(params_type)]
    return list(params_type._fields)


def test_the_published_schema_is_assembled_from_the_base_and_every_kinds_fragment() -> None:
    with open(resource("policies", "schema", "policy.schema.json"), encoding="utf-8") as f:
        published = f.read()
    assert published == render(), "run: python -m engine.policy.schema"


def test_every_kind_is_found_with_its_declarations() -> None:
    """A schema fragment without a kind module (or a module the registry misses) fails here."""
    found = kinds()
    fragments = {p.stem for p in Path(fragment_path("deny")).parent.glob("*.json")}
    assert set(found) == fragments
    assert {"deny", "deny_paths", "require.approvals", "require.evidence", "require.threshold"} <= set(found)
    for kind, cls in found.items():
        assert cls.kind == kind and Path(fragment_path(kind)).is_file()
        assert set(cls.default_stages) <= {"push", "merge", "deploy"}
        assert not (cls.live and "push" in cls.default_stages), kind


@pytest.mark.parametrize("kind", sorted(kinds()))
def test_parameters_and_their_defaults_are_the_schemas(kind: str) -> None:
    """One truth for defaults: the kind's typed parameters; the schema declares the same ones."""
    cls = kinds()[kind]
    with open(fragment_path(kind), encoding="utf-8") as f:
        fragment = json.load(f)
    properties = fragment.get("properties")
    if properties is None:  # the body is the only parameter (deny: [...], deny_paths: [...])
        assert len(fields(cls.Params)) == 1
        return
    names = {name.removesuffix("_") for name in fields(cls.Params)}
    assert names == set(properties), f"{kind}: parameters and schema properties differ"
    for name, value in defaults(cls.Params).items():
        key = name.removesuffix("_")
        if value is not None:
            assert properties[key].get("default") == value, f"{kind}.{key}: the schema's default differs"
        else:
            assert "default" not in properties[key], f"{kind}.{key}: absent by default, yet the schema names one"


def test_parameters_are_typed_values_not_dicts() -> None:
    policy = compile_policy(textwrap.dedent("""\
        version: 1
        sources: {prometheus: {url: "http://prometheus.invalid"}}
        rules:
          - id: t
            require: {threshold: {query: up, below: 1, for: 5m}}
    """).encode(), "p.yml")
    [rule] = build_rules(policy)
    assert rule.params.for_ == "5m" and rule.params.on_error == "deny" and rule.params.on_no_data == "deny"
    assert rule.stages == ["merge", "deploy"]


def test_python_keywords_among_parameter_names_get_an_underscore() -> None:
    params = parse_params(kinds()["require.approvals"].Params, {"count": 2, "from": {"users": ["ann"]}})
    assert params.count == 2 and params.from_ == {"users": ["ann"]} and params.exclude_author is True


def test_a_kind_without_a_schema_fragment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Orphan(kinds()["deny"]):  # type: ignore[misc,valid-type]
        kind = "orphan"

    monkeypatch.setitem(engine.rules._KINDS, "orphan", Orphan)
    with pytest.raises(LookupError, match=r"rule kind 'orphan' \(.*\) has no schema fragment: add .*orphan\.json"):
        assemble()


NEW_KIND = '''
"""`max_commits: N`: a push brings at most N new commits per ref (a test kind)."""

from __future__ import annotations

from typing import NamedTuple

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.facts.interface import Facts


class MaxCommitsParams(NamedTuple):
    limit: int


class MaxCommits(Rule):
    kind = "max_commits"
    Params = MaxCommitsParams
    params: MaxCommitsParams

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        counts = {u.name: len(facts.commits_for(u, self.refs)) for u in updates}
        over = [f"{name}: {n} new commits" for name, n in counts.items() if n > self.params.limit]
        if over:
            return self.outcome("fail", f"more than {self.params.limit} new commit(s)", seen=over)
        return self.outcome("pass", f"at most {self.params.limit} new commit(s) per ref")
'''


def test_a_new_kind_is_one_module_and_one_fragment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a newcomer writes, and nothing else: the kind's module and its schema fragment."""
    package = tmp_path / "kinds"
    package.mkdir()
    (package / "max_commits.py").write_text(NEW_KIND)
    fragment = tmp_path / "max_commits.json"
    fragment.write_text(json.dumps({"type": "integer", "minimum": 1, "description": "At most this many."}))
    monkeypatch.setattr(engine.rules, "__path__", [*engine.rules.__path__, str(package)])
    monkeypatch.setattr(engine.rules, "_KINDS", {})
    original = schema_module.fragment_path
    monkeypatch.setattr(schema_module, "fragment_path",
                        lambda kind: str(fragment) if kind == "max_commits" else original(kind))
    monkeypatch.setattr(load_module, "load_schema", assemble)

    bad = b"version: 1\nrules:\n  - id: few\n    max_commits: 0\n"
    with pytest.raises(PolicyError, match="few"):
        compile_policy(bad, "p.yml")
    both = b"version: 1\nrules:\n  - id: few\n    max_commits: 1\n    deny_paths: ['*.gguf']\n"
    with pytest.raises(PolicyError, match=r"must have exactly one of deny, deny_paths, .*max_commits"):
        compile_policy(both, "p.yml")
    policy = compile_policy(b"version: 1\nrules:\n  - id: few\n    max_commits: 1\n", "p.yml")
    assert policy["rules"][0]["on"] == ["push", "merge"]

    work = tmp_path / "work"
    git_cli("init", "-q", str(work), cwd=tmp_path)
    for name in ("a.txt", "b.txt"):
        (work / name).write_text(name)
        git_cli("add", name, cwd=work)
        git_cli("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", name, cwd=work)
    git = Git(str(work / ".git"))
    update = RefUpdate("0" * 40, git.run("rev-parse", "HEAD").decode().strip(), b"refs/heads/main")
    facts = GitFacts(git, Change((update,), Actor("ann", "cli", "--actor"), "push"), server_refs=[], policy=policy)
    [rule] = build_rules(policy)
    outcome = rule.judge(facts)
    assert outcome.status == "fail" and outcome.seen == ("refs/heads/main: 2 new commits",)

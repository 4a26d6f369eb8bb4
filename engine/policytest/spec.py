"""Test files: find them, read them (YAML with positions, within the policy limits), check them
against the published schema and against what the schema cannot say (labels that exist, rule
ids the policy has), every problem as file:line:col."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from engine.policy import PolicyError, Problem
from engine.policy.load import parse_yaml, schema_problems
from engine.policy.yamldoc import Document

TEST_SUFFIXES = (".tests.yml", ".tests.yaml")
POLICY_SUFFIXES = (".yml", ".yaml")
DEFAULT_NOW = "2026-01-01T00:00:00Z"
DEFAULT_ACTOR = "developer"
DEFAULT_PERSON = "Dev Eloper <dev@example.com>"
SKIPPED_DIRS = frozenset(("node_modules", "__pycache__", "venv"))  # walked for no test file


def schema() -> dict[str, Any]:
    import json

    from engine.resources import resource

    with open(resource("policies", "schema", "policy-tests.schema.json"), encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


@dataclass
class Case:
    """One described change and what the policy must decide on it."""

    name: str
    line: int
    data: dict[str, Any]  # the case with the file's defaults applied (commits: defaults' first)
    expect_decision: str | None
    expect_rules: dict[str, str]
    rule_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class TestFile:
    path: str
    policy: str  # the policy file the cases test
    cases: list[Case]


def find(path: str) -> list[str]:
    """The test files PATH names: a test file itself; a policy file's NAME.tests.yml and its
    tests/ folder; a directory's *.tests.yml and tests/*.yml, and those of its subdirectories."""
    if os.path.isfile(path):
        if path.endswith(TEST_SUFFIXES) or os.path.basename(os.path.dirname(os.path.abspath(path))) == "tests":
            return [path]
        stem = _stem(path)
        here = os.path.dirname(path)
        found = [os.path.join(here, stem + s) for s in TEST_SUFFIXES if os.path.isfile(os.path.join(here, stem + s))]
        folder = os.path.join(here, "tests")
        return found + [f for f in _folder(folder) if _policy_of_folder_file(f, folder) == os.path.abspath(path)]
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        if os.path.basename(root) == "tests":
            # a tests/ folder of policy tests: beside a policy.yml, or its files name their policy
            for f in sorted(files):
                full = os.path.join(root, f)
                if f.endswith(POLICY_SUFFIXES) and (os.path.isfile(os.path.join(os.path.dirname(root), "policy.yml"))
                                                    or _names_policy(full)):
                    found.append(full)
        else:
            found += [os.path.join(root, f) for f in sorted(files) if f.endswith(TEST_SUFFIXES)]
    return found


def _stem(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (*TEST_SUFFIXES, *POLICY_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _folder(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(POLICY_SUFFIXES)]


def _names_policy(path: str) -> bool:
    try:
        data = parse_yaml(_read(path), path).data
    except (PolicyError, OSError):
        return False
    return isinstance(data, dict) and "policy" in data and "cases" in data


def _policy_of_folder_file(path: str, folder: str) -> str | None:
    """The policy a file in a tests/ folder names (its `policy:` key), else policy.yml beside the folder."""
    try:
        data = parse_yaml(_read(path), path).data
    except (PolicyError, OSError):
        return None
    named = data.get("policy") if isinstance(data, dict) else None
    if isinstance(named, str):
        return os.path.abspath(os.path.join(os.path.dirname(path), named))
    return os.path.abspath(os.path.join(os.path.dirname(folder), "policy.yml"))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def default_policy(path: str) -> str | None:
    """NAME.yml (or .yaml) beside NAME.tests.yml; policy.yml beside a tests/ folder."""
    here = os.path.dirname(path)
    if os.path.basename(os.path.abspath(here)) == "tests" and not path.endswith(TEST_SUFFIXES):
        candidate = os.path.join(os.path.dirname(here), "policy.yml")
        return candidate if os.path.isfile(candidate) else None
    stem = _stem(path)
    for suffix in POLICY_SUFFIXES:
        candidate = os.path.join(here, stem + suffix)
        if os.path.isfile(candidate):
            return candidate
    return None


def load(path: str) -> tuple[Document, TestFile]:
    """Read and check one test file (the policy's rule ids are checked by `check_rules`)."""
    try:
        raw = _read(path)
    except OSError as exc:
        raise PolicyError([Problem(path, 0, 0, f"cannot read it: {exc.strerror}")]) from None
    root = parse_yaml(raw, path)
    doc = root.data
    if doc is None:
        raise PolicyError([Problem(path, 1, 1, "the test file is empty; it needs 'version: 1' and 'cases:'")])
    problems = schema_problems(root, doc, path, schema())
    if problems:
        raise PolicyError(problems)
    problems = []
    named = doc.get("policy")
    if named is not None:
        policy = os.path.join(os.path.dirname(path), named)
        if not os.path.isfile(policy):
            problems.append(Problem(path, *root.position(["policy"]), f"policy {named!r} does not exist "
                                                                        f"(looked for {policy})"))
    else:
        found = default_policy(path)
        if found is None:
            problems.append(Problem(path, 1, 1, "no policy found for these tests: name it with policy: PATH "
                                                "(relative to this file), or put NAME.tests.yml beside NAME.yml"))
        policy = found or ""
    cases = []
    names: dict[str, int] = {}
    defaults = doc.get("defaults", {})
    for index, case in enumerate(doc["cases"]):
        at = root.position(["cases", index])
        name = case["name"]
        if name in names:
            problems.append(Problem(path, *root.position(["cases", index, "name"]),
                                    f"duplicate case name {name!r} (first at line {names[name]})"))
        names.setdefault(name, at[0])
        merged = {"stage": "push", "actor": DEFAULT_ACTOR, "now": DEFAULT_NOW,
                  **{k: v for k, v in defaults.items() if k != "commits"}, **case}
        merged["commits"] = [*defaults.get("commits", []), *case.get("commits", [])]
        problems += _case_problems(root, path, index, merged, len(defaults.get("commits", [])))
        expect = case["expect"]
        rules = dict(expect.get("rules", {}))
        lines = {rid: root.position(["cases", index, "expect", "rules", rid], key=True)[0] for rid in rules}
        cases.append(Case(name, at[0], merged, expect.get("decision"), rules, lines))
    if problems:  # a problem in the defaults is found with every case: listed once
        raise PolicyError(list(dict.fromkeys(problems)))
    return root, TestFile(path, policy, cases)


def _case_problems(root: Document, path: str, index: int, case: dict[str, Any], inherited: int) -> list[Problem]:
    """Labels that name commits described before them, files that exist to delete, a valid time."""
    from engine.times import parse_duration, parse_moment

    problems: list[Problem] = []

    def at(*steps: str | int, key: bool = False) -> tuple[int, int]:
        return root.position(["cases", index, *steps], key=key)

    def where(position: int) -> tuple[str | int, ...]:
        """The commit's location: in the case, or in the file's defaults."""
        return ("commits", position - inherited) if position >= inherited else ()

    def commit_at(position: int, *steps: str | int, key: bool = False) -> tuple[int, int]:
        if position >= inherited:
            return at(*where(position), *steps, key=key)
        return root.position(["defaults", "commits", position, *steps], key=key)

    if isinstance(case["now"], str):
        try:
            parse_moment(case["now"])
        except ValueError as exc:
            problems.append(Problem(path, *at("now"), f"now: {exc}"))
    files: dict[str, set[str]] = {}
    for position, commit in enumerate(case["commits"]):
        label = commit["id"]
        if label in files:
            problems.append(Problem(path, *commit_at(position, "id"), f"commit {label!r} is described twice"))
            continue
        parents = commit.get("parents")
        if parents is None:
            parents = [case["commits"][position - 1]["id"]] if position else []
        for p in parents:
            if p not in files:
                problems.append(Problem(path, *commit_at(position, "parents"),
                                        f"commit {label!r}: parent {p!r} is not described before it "
                                        "(list parents before their children)"))
        state = set(files.get(parents[0], set())) if parents and parents[0] in files else set()
        for name, spec in (commit.get("files") or {}).items():
            status = _status(spec, name in state)
            given = spec.get("status") if isinstance(spec, dict) else None
            if status == "D" and name not in state:
                problems.append(Problem(path, *commit_at(position, "files", name, key=True),
                                        f"commit {label!r} deletes {name!r}, which its first parent does not have"))
            elif given is not None and given != status:
                problems.append(Problem(path, *commit_at(position, "files", name, "status"),
                                        f"commit {label!r}: {name!r} is {status} against its first parent, "
                                        f"not {given}"))
            if isinstance(spec, dict) and "size" in spec and "content" in spec:
                problems.append(Problem(path, *commit_at(position, "files", name, key=True),
                                        f"{name!r}: give content or size, not both"))
            if isinstance(spec, dict) and "size" in spec:
                from engine.rules.max_file_size import parse_size

                try:
                    parse_size(spec["size"])
                except ValueError as exc:
                    problems.append(Problem(path, *commit_at(position, "files", name, "size"), str(exc)))
            if status == "D":
                state.discard(name)
            else:
                state.add(name)
        files[label] = state
    known = set(files)
    own_refs = root.data["cases"][index].get("refs") or {}
    for ref, label in (case.get("refs") or {}).items():
        if label not in known:
            located = at("refs", ref) if ref in own_refs else root.position(["defaults", "refs", ref])
            problems.append(Problem(path, *located, f"refs: {ref} names commit {label!r}, which is not described"))
    for u, update in enumerate(case["updates"]):
        for side in ("old", "new"):
            label = update.get(side)
            if label is not None and label not in known:
                problems.append(Problem(path, *at("updates", u, side),
                                        f"updates[{u}].{side}: commit {label!r} is not described"))
        before = (case.get("refs") or {}).get(update["ref"])
        if "old" in update and update["old"] != before:
            now = f"is {before!r}" if before else "does not exist"
            problems.append(Problem(path, *at("updates", u, "old"),
                                    f"updates[{u}].old: {update['ref']} {now} before the change (refs:), and "
                                    "a push always updates a ref from its current value; leave old out"))
        if "new" not in update:
            problems.append(Problem(path, *at("updates", u), f"updates[{u}] needs new: a commit label "
                                                             "(or null to delete the ref)"))
    targets = [u for u in case["updates"] if u.get("new") is not None]
    for kind in ("approvals", "evidence"):
        for n, item in enumerate(case.get(kind) or []):
            label = item.get("commit")
            if label is not None and label not in known:
                problems.append(Problem(path, *at(kind, n, "commit"), f"{kind}[{n}]: commit {label!r} is not "
                                                                      "described"))
            if label is None and not targets:
                problems.append(Problem(path, *at(kind, n), f"{kind}[{n}] needs commit: no update brings one"))
            if "age" in item:
                try:
                    parse_duration(item["age"])
                except ValueError as exc:
                    problems.append(Problem(path, *at(kind, n, "age"), str(exc)))
    return problems


def _status(spec: Any, exists: bool) -> str:
    if spec is None or (isinstance(spec, dict) and spec.get("status") == "D"):
        return "D"
    return "M" if exists else "A"


def check_rules(test: TestFile, root: Document, rule_ids: list[str]) -> None:
    """Every rule id a case expects a status of is a rule of the policy (a typo would never be checked)."""
    problems = []
    for index, case in enumerate(test.cases):
        for rid in case.expect_rules:
            if rid not in rule_ids:
                line, col = root.position(["cases", index, "expect", "rules", rid], key=True)
                problems.append(Problem(test.path, line, col, f"rule {rid!r} is not in the policy {test.policy} "
                                                              f"(its rules: {', '.join(rule_ids) or 'none'})"))
    if problems:
        raise PolicyError(problems)

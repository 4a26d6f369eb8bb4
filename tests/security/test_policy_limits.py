"""Class 7 (inputs that exhaust the hook): every policy input is answered quickly.

A policy that someone landed in the protected ref must not hang `policy validate` or
the push hook: each limit is refused with a message naming it and its value (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from engine.policy import PolicyError
from engine.policy.limits import (
    MAX_ALIASES,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    MAX_PATTERNS_PER_LIST,
    MAX_RULES,
    MAX_STRING,
)
from engine.policy.load import load_policy, load_schema
from tests.helpers.repos import Clone, Server, policy_cli

HEAD = "version: 1\nname: hostile\n"
ALIAS_BOMB = HEAD + "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 12)) + "rules: *a11\n"
POLICY_REF = "refs/heads/main:.changegate/policy.yml"


def validate(tmp_path: Path, text: str) -> tuple[int, str, float]:
    """The real `policy validate`, timed; a hang fails the test instead of stalling it."""
    path = tmp_path / "policy.yml"
    path.write_text(text)
    start = time.monotonic()
    try:
        proc = policy_cli("validate", str(path), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("policy validate did not answer within 30 s")
    elapsed = time.monotonic() - start
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, (proc.stderr + proc.stdout).replace(str(path), "P"), elapsed


def problems(text: str) -> str:
    """The loader in-process: its answer for `text`, within the 2 s the issue allows."""
    start = time.monotonic()
    with pytest.raises(PolicyError) as caught:
        load_policy(text.encode(), "P")
    assert time.monotonic() - start < 2.0
    return str(caught.value)


def test_alias_bomb_with_version_and_name_is_refused_quickly(tmp_path: Path) -> None:
    code, err, elapsed = validate(tmp_path, ALIAS_BOMB)
    assert code == 2
    assert f"more than {MAX_NODES:,} values (an alias counts as all the values it repeats)" in err
    assert f"the limit is {MAX_NODES:,}" in err
    assert elapsed < 10


def test_80_kb_of_nested_brackets_is_refused_with_the_depth_limit(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules: " + "[" * 80_000 + "]" * 80_000 + "\n")
    assert code == 2
    assert f"P:3:{8 + MAX_DEPTH - 1}: values nest more than {MAX_DEPTH} levels deep: the limit is {MAX_DEPTH}" in err


def test_deep_block_nesting_is_refused_with_the_depth_limit() -> None:
    text = HEAD + "rules:\n" + "".join(" " * (2 * i) + "- a:\n" for i in range(100))
    assert f"nest more than {MAX_DEPTH} levels deep" in problems(text)


def test_an_alias_cannot_nest_past_the_depth_limit() -> None:
    deep = "[" * 20 + "x" + "]" * 20
    text = HEAD + f"d: &d {deep}\nrules: [{{id: r, deny: [deletion], x: {'[' * 15}*d{']' * 15}}}]\n"
    assert f"alias *d nests values more than {MAX_DEPTH} levels deep" in problems(text)


def test_a_policy_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules: [{id: r, deny: [deletion]}]\n" + "#" * MAX_BYTES)
    assert code == 2
    assert f"the policy is larger than the limit of {MAX_BYTES:,} bytes (1 MiB)" in err


def test_60000_rules_are_refused(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules:\n" + "".join(f"- {{id: r{i}, deny: [deletion]}}\n"
                                                                  for i in range(60_000)))
    assert code == 2
    assert "the policy is larger than the limit of 1,048,576 bytes" in err


def test_more_rules_than_the_limit_name_the_limit(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules:\n" + "".join(f"- {{id: r{i}, deny: [deletion]}}\n"
                                                                  for i in range(MAX_RULES + 1)))
    assert code == 2
    assert f"P:4:1: rules has {MAX_RULES + 1:,} items: the limit is {MAX_RULES:,}" in err


def test_a_policy_with_too_many_values_is_refused_at_the_value_past_the_limit() -> None:
    text = HEAD + "rules: [" + ", ".join(["1"] * (MAX_NODES + 10)) + "]\n"
    assert f"P:3:{9 + 3 * (MAX_NODES - 7)}: more than {MAX_NODES:,} values" in problems(text)


def test_more_aliases_than_the_limit_are_refused() -> None:
    text = HEAD + "x: &x 1\nrules: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    assert f"more than {MAX_ALIASES:,} aliases (*name): the limit is {MAX_ALIASES:,}" in problems(text)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules: &r [{id: r, deny: [deletion]}, *r]\n")
    assert code == 2
    assert "P:3:39: YAML syntax: alias *r refers to a list or mapping that contains it" in err


def test_patterns_per_list_are_limited(tmp_path: Path) -> None:
    patterns = ", ".join(f"'d/f{i}.bin'" for i in range(MAX_PATTERNS_PER_LIST + 1))
    code, err, _ = validate(tmp_path, HEAD + f"rules:\n  - id: r\n    deny_paths: [{patterns}]\n")
    assert code == 2
    assert (f"P:5:17: rules[0] (id 'r').deny_paths has {MAX_PATTERNS_PER_LIST + 1:,} items: "
            f"the limit is {MAX_PATTERNS_PER_LIST:,}") in err


def test_patterns_in_the_whole_policy_are_limited(tmp_path: Path) -> None:
    lists = MAX_PATTERNS // MAX_PATTERNS_PER_LIST + 1
    rules = "".join(f"  - id: r{r}\n    deny_paths: [{', '.join(f'd{r}/f{i}' for i in range(MAX_PATTERNS_PER_LIST))}]\n"
                    for r in range(lists))
    code, err, _ = validate(tmp_path, HEAD + "rules:\n" + rules)
    assert code == 2
    assert f"P:{5 + 2 * (lists - 1)}:17: more than {MAX_PATTERNS:,} patterns in the policy" in err
    assert f"the limit is {MAX_PATTERNS:,}" in err


def test_a_pattern_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + f"rules:\n  - id: r\n    deny_paths: ['{'a/' * MAX_PATTERN_LENGTH}']\n")
    assert code == 2
    assert (f"rules[0] (id 'r').deny_paths[0] is {2 * MAX_PATTERN_LENGTH:,} characters long: "
            f"the limit is {MAX_PATTERN_LENGTH:,}") in err


def test_a_string_longer_than_the_limit_is_refused() -> None:
    text = HEAD + f"rules: [{{id: r, deny: [deletion], message: '{'m' * (MAX_STRING + 1)}'}}]\n"
    assert f"P:3:44: a value of {MAX_STRING + 1:,} characters: the limit is {MAX_STRING:,}" in problems(text)


def test_a_second_document_is_refused() -> None:
    assert "a policy is one YAML document" in problems(HEAD + "rules: []\n---\n" + HEAD)


def test_unsupported_tags_are_refused() -> None:
    assert "tag tag:yaml.org,2002:python/object:os.system is not supported" in problems(
        HEAD + "rules: !!python/object:os.system [{id: r, deny: [deletion]}]\n")


def test_a_hostile_policy_lists_at_most_100_problems(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, HEAD + "rules:\n" + "".join(f"- {{id: R{i}, deny: [x]}}\n" for i in range(500)))
    assert code == 2
    assert len(err.splitlines()) == 101
    assert err.splitlines()[-1] == "... and more problems: only the first 100 found are listed"


def test_the_schema_states_the_limits_it_can() -> None:
    schema = load_schema()
    patterns = schema["$defs"]["patterns"]
    assert schema["properties"]["rules"]["maxItems"] == MAX_RULES
    assert patterns["maxItems"] == MAX_PATTERNS_PER_LIST
    assert patterns["items"]["maxLength"] == MAX_PATTERN_LENGTH
    assert schema["$defs"]["rule"]["properties"]["message"]["maxLength"] == MAX_STRING
    assert f"{MAX_NODES} values" in schema["description"] and f"{MAX_STRING} characters" in schema["description"]


def test_an_alias_bomb_landed_in_the_protected_ref_cannot_hang_the_next_push(tmp_path: Path) -> None:
    """Anyone who can land a policy in the protected ref tries to hang every later push."""
    good = HEAD + "rules: [{id: no-gguf, deny_paths: ['*.gguf']}]\n"
    server = Server(tmp_path, None, policy_ref=POLICY_REF)
    bootstrap = tmp_path / "bootstrap.yml"
    bootstrap.write_text(good)
    assert policy_cli("hook", "install", "--repo", str(server.path), "--policy-ref", POLICY_REF,
                      "--policy", str(bootstrap)).returncode == 0
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", ALIAS_BOMB)
    clone.commit("land the bomb")
    assert clone.push("HEAD:refs/heads/main").code == 0  # judged by the policy before it
    clone.commit("next", "a.txt")
    start = time.monotonic()
    result = clone.push("HEAD:refs/heads/main")
    assert time.monotonic() - start < 10
    assert result.code != 0
    assert (f"changegate: push rejected: the policy is invalid: {POLICY_REF}:7:25: more than {MAX_NODES:,} values"
            in result.remote)
    assert json.loads(server.audit_log.read_text().splitlines()[-1])["error"] == "invalid-policy"

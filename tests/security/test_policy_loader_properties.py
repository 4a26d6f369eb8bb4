"""Property tests of the policy loader: any input gets an answer (valid, or PolicyError) in bounded
time, never a traceback."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.limits import MAX_DEPTH, MAX_NODES
from tests.helpers.repos import policy_cli

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = ["[", "]", "{", "}", ", ", ": ", "- ", "\n", "\n  ", "\n    ", "&a ", "&b ", "*a", "*b", "<<: ", "? ",
          "!!str ", "!!int ", "!!map ", "!x ", "'q'", '"d\\n"', "x", "1", "0x1F", "true", "null", "~", "---\n",
          "...\n", "# c\n", "|\n  ", ">-\n  ", "version: 1\n", "name: n\n", "rules:\n", "- id: r\n", "  id: r\n",
          "  deny: [deletion]\n", "  deny_paths: ['*.bin', '!a/**']\n", "%YAML 1.2\n", "\t", "\x00", "\u00e9",
          "\ufeff", "refs/heads/*", "-_", "._", "0x_", "<<"]


def answer(data: bytes) -> dict[str, Any] | PolicyError:
    """What `policy validate` computes, in-process: the compiled policy or the error; within 2 s."""
    start = time.monotonic()
    try:
        result: dict[str, Any] | PolicyError = compile_policy(data, "P")
    except PolicyError as exc:
        result = exc
    assert time.monotonic() - start < 2.0
    return result


@QUICK
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_answered(data: bytes) -> None:
    answer(data)


@QUICK
@given(st.lists(st.sampled_from(TOKENS), max_size=300))
def test_yaml_token_soup_is_answered(tokens: list[str]) -> None:
    answer("".join(tokens).encode("utf-8", "surrogatepass"))


@QUICK
@given(st.integers(1, 20_000), st.lists(st.sampled_from(["[", "{a: ", "[x, ", "{? "]), min_size=1, max_size=4),
       st.booleans())
def test_deep_nesting_is_refused_at_the_depth_limit(depth: int, kinds: list[str], block: bool) -> None:
    if block:
        body = "\n" + "".join("  " * i + "- a:\n" for i in range(min(depth, 300)))
    else:
        body = "".join(kinds[i % len(kinds)] for i in range(depth))
    result = answer(("version: 1\nrules: " + body).encode())
    levels = 2 * min(depth, 300) if block else depth
    if levels + 1 > MAX_DEPTH:  # the root mapping is a level too
        assert isinstance(result, PolicyError) and f"the limit is {MAX_DEPTH}" in str(result)


@QUICK
@given(st.integers(1, 12), st.integers(1, 12), st.booleans())
def test_alias_expansion_is_bounded_by_the_node_limit(levels: int, fanout: int, merge: bool) -> None:
    """Each anchor repeats the previous one `fanout` times: expansion grows as fanout ** levels."""
    lines = ["version: 1\nname: n\n", "a0: &a0 {id: r, deny: [deletion]}\n"]
    for i in range(1, levels + 1):
        aliases = ", ".join([f"*a{i - 1}"] * fanout)
        lines.append(f"a{i}: &a{i} {{<<: [{aliases}]}}\n" if merge else f"a{i}: &a{i} [{aliases}]\n")
    lines.append(f"rules: [*a{levels}]\n")
    result = answer("".join(lines).encode())
    expanded = sum(fanout ** i for i in range(levels + 1)) * 6  # roughly: rules each of six values
    if not merge and expanded > 2 * MAX_NODES:
        assert isinstance(result, PolicyError) and f"the limit is {MAX_NODES:,}" in str(result)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 3 * MAX_NODES), st.sampled_from(["1", "'s'", "[]", "{}", "*x"]))
def test_huge_lists_are_refused_at_the_node_limit(count: int, item: str) -> None:
    text = "version: 1\nx: &x 1\nrules: [" + ", ".join([item] * count) + "]\n"
    result = answer(text.encode())
    if count > MAX_NODES:
        assert isinstance(result, PolicyError)
        assert "the limit is" in str(result)


@settings(max_examples=6, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=300))
def test_the_real_command_answers_hostile_input_with_0_or_2(tmp_path_factory: Any, tokens: list[str]) -> None:
    path = tmp_path_factory.mktemp("soup") / "policy.yml"
    path.write_bytes("".join(tokens).encode("utf-8", "surrogatepass"))
    proc = policy_cli("validate", str(path), timeout=30)
    assert proc.returncode in (0, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr

"""Property tests of the policy loader: any input gets an answer (valid, or PolicyError) in bounded
time, never a traceback; and what it builds is what ruamel.yaml's own loader builds."""

from __future__ import annotations

import math
import time
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.limits import MAX_DEPTH, MAX_NODES
from engine.policy.yamldoc import read
from tests.helpers.repos import policy_cli

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = ["[", "]", "{", "}", ", ", ": ", "- ", "\n", "\n  ", "\n    ", "&a ", "&b ", "*a", "*b", "<<: ", "? ",
          "!!str ", "!!int ", "!!map ", "!x ", "'q'", '"d\\n"', "x", "1", "0x1F", "true", "null", "~", "---\n",
          "...\n", "# c\n", "|\n  ", ">-\n  ", "version: 1\n", "name: n\n", "rules:\n", "- id: r\n", "  id: r\n",
          "  deny: [deletion]\n", "  deny_paths: ['*.bin', '!a/**']\n", "%YAML 1.2\n", "\t", "\x00", "\u00e9",
          "\ufeff", "refs/heads/*"]


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
@given(st.lists(st.sampled_from(["[", "{a: ", "- ", "{", "[x, "]), min_size=1, max_size=5000),
       st.booleans())
def test_deep_nesting_is_refused_at_the_depth_limit(openers: list[str], block: bool) -> None:
    body = "".join("  " * i + "- " if block else opener for i, opener in enumerate(openers))
    result = answer(("version: 1\nrules: " + ("\n" if block else "") + body).encode())
    if len(openers) + 1 > MAX_DEPTH:  # the root mapping is a level too
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


# What the reader builds agrees with ruamel.yaml's round-trip loader (the loader it replaced).
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, width=32), st.text(max_size=12))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=30)


@QUICK
@given(TREES, st.sampled_from([None, True, False]), st.booleans())
def test_reader_builds_what_ruamel_builds(tree: Any, flow: bool | None, share: bool) -> None:
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    document = {"a": tree, "b": tree} if share else tree  # a shared subtree is dumped as &id/*id
    dumper = YAML(typ="rt", pure=True)
    dumper.default_flow_style = flow
    out = io.StringIO()
    dumper.dump(document, out)
    text = out.getvalue()
    try:
        expected = _ruamel_plain(YAML(typ="rt", pure=True).load(text))
    except YAMLError:  # ruamel cannot always read what it wrote (e.g. a key ':0' in flow style)
        assume(False)
    try:
        built = read(text, "P").data
    except PolicyError as exc:  # libyaml reads YAML 1.1 syntax: a few 1.2-only plain forms ("{0?: x}") are refused
        assert "YAML syntax" in str(exc)
        return
    assert _same(built, expected), text


def _ruamel_plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _ruamel_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_ruamel_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=6, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=300))
def test_the_real_command_answers_hostile_input_with_0_or_2(tmp_path_factory: Any, tokens: list[str]) -> None:
    path = tmp_path_factory.mktemp("soup") / "policy.yml"
    path.write_bytes("".join(tokens).encode("utf-8", "surrogatepass"))
    proc = policy_cli("validate", str(path), timeout=30)
    assert proc.returncode in (0, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr

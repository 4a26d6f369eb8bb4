"""engine.policy.yamldoc builds what ruamel.yaml's round-trip loader (the loader it replaced) built."""

from __future__ import annotations

import io
import math
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.policy import PolicyError
from engine.policy.yamldoc import read
from engine.resources import resource

# What the reader builds agrees with ruamel.yaml's round-trip loader (the loader it replaced).
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, width=32), st.text(max_size=12))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.sampled_from([None, True, False]), st.booleans())
def test_reader_builds_what_ruamel_builds(tree: Any, flow: bool | None, share: bool) -> None:
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


@pytest.mark.parametrize(("text", "value"), [
    ("017", 17), ("0o17", 15), ("0x1F", 31), ("0b101", 5), ("1_000", 1000), ("-0", 0), ("1.5", 1.5), ("1.", 1.0),
    (".5", 0.5), ("1e3", 1000.0), ("-.inf", -math.inf), ("~", None), ("null", None), ("", None), ("true", True),
    ("FALSE", False), ("yes", "yes"), ("on", "on"), ("0o8", "0o8"), ("_1", "_1"), ("-_", "-_"),
    ("2024-01-01", "2024-01-01"),
    ("'1'", "1"), ("!!str 5", "5"), ("!!int '7'", 7), ("! 5", "5"),
])
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: Any) -> None:
    assert read(f"k: {text}\n", "P").data == {"k": value}


def test_merge_keys_fill_only_missing_keys_earlier_sources_first() -> None:
    text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nm:\n  y: 0\n  <<: [*a, *b]\n"
    assert read(text, "P").data["m"] == {"y": 0, "x": 1, "z": 2}


def test_positions_point_at_keys_values_and_items() -> None:
    doc = read("version: 1\nrules:\n  - id: a\n    deny: [deletion, update]\n", "P")
    assert doc.position(["rules", 0, "deny", 1]) == (4, 22)
    assert doc.position(["rules", 0, "deny"], key=True) == (4, 5)
    assert doc.position(["rules", 0, "missing", 3]) == (3, 5)  # the deepest located parent


def test_without_the_c_parser_the_pure_parser_builds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    with open(resource("policies", "llm-remediation.yml"), encoding="utf-8") as f:
        text = f.read()
    fast = read(text, "P")
    monkeypatch.setitem(sys.modules, "_ruamel_yaml", None)  # what a platform without the C extension has
    slow = read(text, "P")
    assert slow.data == fast.data
    assert slow.position(["rules", 3, "deny_paths", 2]) == fast.position(["rules", 3, "deny_paths", 2])
    with pytest.raises(PolicyError, match="P:1:4008: more than 1,000 aliases"):
        read("[&a x, " + "*a, " * 1001 + "]", "P")

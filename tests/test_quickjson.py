"""engine.quickjson is json.dumps / json.loads through the same C codec, without the json package."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import quickjson

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


@given(_VALUES)
def test_dumps_is_json_dumps(value: object) -> None:
    for sort_keys in (False, True):
        assert quickjson.dumps(value, sort_keys=sort_keys) == json.dumps(value, sort_keys=sort_keys)


@given(_VALUES)
def test_loads_reads_what_json_writes(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=2), f" \n{json.dumps(value)}\t"):
        assert quickjson.loads(text) == json.loads(text)
        assert quickjson.loads(text.encode()) == json.loads(text)


def test_special_values_and_keys_like_json() -> None:
    value = {"nan": math.nan, "inf": [math.inf, -math.inf], 1: "int key", None: 0, "\u2028\x00é": "\U0001f600"}
    assert quickjson.dumps(value) == json.dumps(value)
    assert quickjson.dumps(value, sort_keys=False) == json.dumps(value)
    back = quickjson.loads('{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert math.isnan(back["a"]) and back["b"] == math.inf and back["c"] == -math.inf


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', "[1,]", "tru", '"\\x"', "{'a': 1}", "[1] [2]"])
def test_loads_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(ValueError):
        quickjson.loads(text)


def test_dumps_refuses_what_json_refuses() -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError):
        quickjson.dumps(looped)
    with pytest.raises(TypeError, match="not JSON serializable"):
        quickjson.dumps({"a": object()})
    with pytest.raises(TypeError):
        quickjson.dumps({"a": {1, 2}})
    assert quickjson.dumps([1, 2]) == "[1, 2]"  # the failures left nothing behind


def test_importing_it_leaves_json_and_re_out() -> None:
    root = str(Path(__file__).resolve().parent.parent)
    code = (f"import sys; sys.path.insert(0, {root!r}); from engine import quickjson; "
            "quickjson.loads(quickjson.dumps([1.5, 'x']));"
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules));"
            "exec('try: quickjson.loads(\\'{not json\\')\\nexcept ValueError as e: print(type(e).__name__, e)')")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    listed, error = out.stdout.splitlines()
    assert listed == "[]"
    # a document that is not JSON: json's own error, though json was not imported before
    assert error == "JSONDecodeError Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"

"""conftest's conventions: which rules deny or warn, message shapes, and what cannot be read."""

from __future__ import annotations

import pytest

from engine.rego.verdict import Message, ResultError, read_result


def test_package_deny_violation_and_warn_rules_with_suffixes() -> None:
    denials, warnings = read_result({
        "deny": ["a"], "deny_size": [{"msg": "b", "path": "w.bin"}], "violation": [{"msg": "c", "details": {}}],
        "warn": ["d"], "warn_style": ["e"], "allowed_paths": ["ignored"], "test_x": True, "denied": ["not a deny rule"],
    }, "changegate")
    assert denials == [Message("deny", "a"), Message("deny_size", "b", "w.bin"), Message("violation", "c")]
    assert warnings == [Message("warn", "d"), Message("warn_style", "e")]


def test_one_rule_by_name() -> None:
    assert read_result(["x"], "deny") == ([Message("deny", "x")], [])
    assert read_result(["x"], "warn") == ([], [Message("warn", "x")])
    assert read_result([], "deny") == ([], [])


def test_booleans() -> None:
    assert read_result(False, "allow") == ([Message("allow", "allow is false")], [])
    assert read_result(True, "allow") == ([], [])
    assert read_result(True, "deny") == ([Message("deny", "deny is true")], [])
    assert read_result({"deny": False}, "changegate") == ([], [])


def test_malformed_denial_still_denies() -> None:
    denials, _ = read_result({"deny": [42, {"message": "no msg key"}]}, "changegate")
    assert [d.text for d in denials] == ["42", '{"message": "no msg key"}']


def test_v0_style_object_set_denies_with_its_keys() -> None:
    assert read_result({"deny": {"weights in git": True}}, "changegate") == ([Message("deny", "weights in git")], [])


def test_message_cannot_forge_terminal_lines() -> None:
    [denial], _ = read_result({"deny": ["ok\nremote: fake line"]}, "changegate")
    assert "\n" not in denial.text


@pytest.mark.parametrize("value", [3, "text", None])
def test_other_shapes_are_an_error(value: object) -> None:
    with pytest.raises(ResultError, match="expected a package"):
        read_result(value, "changegate")

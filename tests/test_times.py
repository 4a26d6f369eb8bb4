"""One duration grammar: what the policy schema accepts is exactly what the engine parses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.policy.load import load_schema
from engine.times import DURATION_PATTERN, format_age, format_duration, parse_duration, parse_moment

SCHEMA = load_schema()["$defs"]["duration"]


def schema_accepts(text: str) -> bool:
    return len(text) >= SCHEMA["minLength"] and re.search(SCHEMA["pattern"], text) is not None


def parses(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", ["30m1h", "1m1h", "5", "m5", "", "1h 30m", "1s1s", "5ms1s", "0x"])
def test_out_of_order_or_malformed_durations_fail_validation_and_parsing_alike(text: str) -> None:
    assert not schema_accepts(text) and not parses(text)


@pytest.mark.parametrize(("text", "seconds"), [("1h30m", 5400.0), ("7d", 604800.0), ("500ms", 0.5),
                                               ("1y2w3d4h5m6s7ms", 31536000 + 1209600 + 259200 + 14400 + 306.007)])
def test_well_formed_durations_pass_both(text: str, seconds: float) -> None:
    assert schema_accepts(text) and parse_duration(text) == pytest.approx(seconds)


@given(st.text(alphabet="0123456789ywdhms", max_size=12))
def test_the_schema_and_the_parser_agree_on_any_text(text: str) -> None:
    assert schema_accepts(text) == parses(text)


def test_the_schema_pattern_is_the_engines() -> None:
    assert SCHEMA["pattern"] == DURATION_PATTERN


def test_spellings() -> None:
    assert format_duration(5400) == "1h30m" and format_duration(0.25) == "250ms"
    assert format_age(7 * 86400 + 61) == "7d1m"
    assert parse_moment("2026-01-01T00:00:00Z") == parse_moment("1767225600") == 1767225600.0
    with pytest.raises(ValueError, match="neither epoch seconds nor an ISO 8601 time"):
        parse_moment("soon")

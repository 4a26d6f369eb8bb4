"""OpenSSH's small languages: pattern-lists and absolute times, read as OpenSSH reads them
(match.c match_pattern_list, misc.c parse_absolute_time)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from functools import lru_cache

from engine.attest.errors import AttestError

_TIME = re.compile(r"[0-9]{8}(?:[0-9]{4}(?:[0-9]{2})?)?")


def match_pattern(text: str, pattern: str) -> bool:
    """OpenSSH match_pattern: `*` any run, `?` any one character, the rest literal."""
    return _pattern_regex(pattern).fullmatch(text) is not None


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def match_pattern_list(text: str, patterns: str) -> int:
    """OpenSSH match_pattern_list: 1 positive match, -1 negated match (wins), 0 none."""
    positive = 0
    for sub in patterns.split(",") if patterns else []:
        negated = sub.startswith("!")
        if match_pattern(text, sub[1:] if negated else sub):
            if negated:
                return -1
            positive = 1
    return positive


def parse_ssh_time(text: str) -> int:
    """OpenSSH parse_absolute_time: seconds since the epoch; ValueError if malformed."""
    utc = False
    if len(text) > 1 and text[-1:].lower() == "z":
        utc, text = True, text[:-1]
    elif len(text) > 3 and text[-3:].lower() == "utc":
        utc, text = True, text[:-3]
    if _TIME.fullmatch(text) is None:
        raise ValueError("expected YYYYMMDD or YYYYMMDDHHMM[SS], optionally ending in Z")
    digits = text + "0" * (14 - len(text))
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    dt.datetime(year, month, day, hour, minute, second)  # ValueError for impossible dates
    fields = (year, month, day, hour, minute, second, 0, 0, 0)
    if utc:
        return calendar.timegm(fields)
    # As OpenSSH: mktime on a zeroed struct tm, so tm_isdst is 0, not -1.
    return int(time.mktime(fields))


def epoch_seconds(now: dt.datetime) -> int:
    """Whole seconds, as OpenSSH compares them; a naive datetime is refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise AttestError("`now` must be a timezone-aware datetime, e.g. datetime.now(timezone.utc)")
    return int(now.timestamp() // 1)


def show_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

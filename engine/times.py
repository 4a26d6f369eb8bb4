"""Durations and times: one parser and one spelling for every policy key, record and message.

A policy's `for: 5m`, `max_age: 7d` and `timeout: 2s`, and an alerting-rules file's `for`,
are all Prometheus durations (units y w d h m s ms, each at most once, largest first); the
policy schema's `duration` pattern accepts exactly what `parse_duration` does, so a value
that validates never fails at evaluation.
"""

from __future__ import annotations

import re

# Prometheus's model.ParseDuration grammar; policies/schema/policy.base.json spells the same.
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
DURATION_PATTERN = "^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``5m``, ``1h30m``, ``7d``, ``500ms``)."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(
            f"{text!r} is not a Prometheus duration: use units y w d h m s ms, largest first, e.g. 5m, 1h30m, 30s")
    return sum(int(amount) * unit for amount, unit in zip(match.groups(), _UNITS, strict=True) if amount)


def format_duration(seconds: float) -> str:
    """The exact Prometheus spelling of ``seconds`` (300 -> ``5m``), for windows and steps."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit, name in ((3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")):
        amount, millis = divmod(millis, unit)
        if amount:
            parts.append(f"{amount}{name}")
    return "".join(parts)


def format_age(seconds: float) -> str:
    """7d, 2h5m, 45s: the largest two units, for how old a record is (sign ignored)."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = []
    rest = int(seconds)
    for name, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, rest = divmod(rest, size)
        if amount:
            out.append(f"{amount}{name}")
    return "".join(out[:2])


def rfc3339(epoch: float) -> str:
    """RFC 3339 UTC to the second, with a Z: how records (evidence predicates) store times."""
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def format_time(epoch: float) -> str:
    """UTC ISO 8601 for messages, with milliseconds when there are any: epoch seconds mean nothing
    to a reader."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_rfc3339(text: object) -> float | None:
    """Epoch seconds of an RFC 3339 time; None if it is not one (a time without zone is refused)."""
    import datetime as dt

    if not isinstance(text, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def parse_moment(text: str) -> float:
    """A `--now`: epoch seconds, or ISO 8601 (UTC when it names no zone); ValueError otherwise."""
    try:
        return float(text)
    except ValueError:
        pass
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()

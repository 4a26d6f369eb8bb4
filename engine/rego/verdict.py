"""Reading a Rego result with conftest's conventions: `deny` and `warn` sets of messages.

A package's result (an object) is read rule by rule: `deny`, `violation` and any rule
whose name starts with `deny_` or `violation_` hold denials; `warn` and `warn_*` hold
warnings; other rules (auxiliary ones, `test_*`) are ignored. A message is a string, or an
object with a string `msg` and an optional string `path` (the file it is about, shown as
an annotation). A query or OPA path that names one rule reads that rule: a set of
messages, or a boolean (`deny`/`violation`/`warn` true: one denial or warning; any other
name, e.g. `allow`, false: one denial).

Doubt denies: a denial that is not a well-formed message still denies, shown as its JSON;
a result of another shape (a number, null) is an error, and so is an undefined result
(the query or path names nothing: a typo must not allow everything).
"""

from __future__ import annotations

import json

from engine.change import show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from engine.lighttuple import NamedTuple

MAX_MESSAGE = 1000  # characters of one message shown


class Message(NamedTuple):
    rule: str  # the Rego rule that produced it: deny, warn_size, ...
    text: str
    path: str = ""


class ResultError(Exception):
    """A result the conventions cannot read; the message says what was expected."""


def kind_of(name: str) -> str | None:
    """"deny" or "warn" for a rule named by conftest's conventions; None for any other rule."""
    for prefix, kind in (("deny", "deny"), ("violation", "deny"), ("warn", "warn")):
        if name == prefix or name.startswith(prefix + "_"):
            return kind
    return None


def read_result(value: Any, name: str) -> tuple[list[Message], list[Message]]:
    """(denials, warnings) in `value`, the result of the query or path whose last step is `name`."""
    denials: list[Message] = []
    warnings: list[Message] = []
    if isinstance(value, dict) and kind_of(name) is None:
        for rule in sorted(value):
            kind = kind_of(rule)
            if kind is not None:
                (denials if kind == "deny" else warnings).extend(_messages(value[rule], rule))
        return denials, warnings
    kind = kind_of(name)
    if isinstance(value, bool) and kind is None:
        if not value:
            denials.append(Message(name, f"{name} is false"))
        return denials, warnings
    if isinstance(value, (bool, list, dict)):
        (warnings if kind == "warn" else denials).extend(_messages(value, name))
        return denials, warnings
    raise ResultError(f"the result is {_describe(value)}; expected a package (an object with deny/warn rules), a set "
                      "of messages, or a boolean")


def _messages(value: Any, rule: str) -> list[Message]:
    """The messages of one rule's value: a set (array), a v0-style object {msg: true}, or a boolean."""
    if isinstance(value, bool):
        return [Message(rule, f"{rule} is true")] if value else []
    if isinstance(value, dict):  # `deny[msg] { ... }` read as Rego v1: {msg: true}
        return [Message(rule, _bounded(show(key))) for key, held in value.items() if held is not False]
    if not isinstance(value, list):
        return [Message(rule, _bounded(f"{rule} is {_describe(value)}: not a set of messages"))]
    return [_message(item, rule) for item in value]


def _message(item: Any, rule: str) -> Message:
    if isinstance(item, str):
        return Message(rule, _bounded(show(item)))
    if isinstance(item, dict) and isinstance(item.get("msg"), str):
        path = item.get("path")
        return Message(rule, _bounded(show(item["msg"])), show(path) if isinstance(path, str) else "")
    return Message(rule, _bounded(show(json.dumps(item, sort_keys=True))))


def _describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {json.dumps(value)[:80]}"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."

"""YAML text to plain data with positions, in one bounded, non-recursive pass.

A policy may come from anyone who can land a file in the protected ref, so reading it
must cost at most the limits' worth of work (engine/policy/limits.py) whatever the
input: an alias bomb, 80 KB of nested brackets, a million keys. The document is built
directly from the parser's event stream (libyaml through ruamel.yaml.clib: lazy and
~50x faster than ruamel's pure parser, which serves only where the C parser is
missing), checking every limit before anything grows past it; no step recurses.
Aliases count as the nodes they repeat, so expansion is bounded as well.

YAML 1.2 core schema, as ruamel.yaml resolves it: plain true/false, null/~/empty,
ints (0x, 0o, 0b, `_`) and floats (.inf, .nan) are typed, timestamps stay text,
`<<` merges mappings; keys are strings; duplicate keys, other tags and a second
document are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from engine.policy import PolicyError, Problem
from engine.policy.limits import MAX_ALIASES, MAX_DEPTH, MAX_NODES, MAX_STRING

Mark = tuple[int, int]  # 1-based line and column

_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_FLOAT = re.compile(r"""(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                       |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                       |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
                       |[-+]?\.(?:inf|Inf|INF)
                       |\.(?:nan|NaN|NAN))\Z""", re.X)
_INT = re.compile(r"(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)\Z")
_NULL = re.compile(r"(?:~|null|Null|NULL)\Z")
_TAG = "tag:yaml.org,2002:"


class Document:
    """A parsed policy: plain data, and the line/column of every key and value in it."""

    __slots__ = ("_marks", "data")

    def __init__(self, data: Any, marks: dict[int, dict[Any, tuple[Mark, Mark]]]) -> None:
        self.data = data
        self._marks = marks  # id(list or dict) -> {index or key: (key mark, value mark)}

    def position(self, path: Sequence[str | int], *, key: bool = False) -> Mark:
        """Where the value at `path` is (its key, with `key`), or its deepest located parent."""
        node, found = self.data, (1, 1)
        for depth, step in enumerate(path):
            marks = self._marks.get(id(node)) if isinstance(node, (dict, list)) else None
            if marks is None or step not in marks:
                break
            key_mark, value_mark = marks[step]
            found = key_mark if key and depth == len(path) - 1 else value_mark
            node = node[step]
        return found


class _Frame:
    """A list or mapping being built."""

    __slots__ = ("anchor", "has_key", "height", "key", "key_mark", "mark", "marks", "merges", "size", "value")

    def __init__(self, value: dict[str, Any] | list[Any], mark: Mark, anchor: str | None) -> None:
        self.value = value
        self.marks: dict[Any, tuple[Mark, Mark]] = {}
        self.mark = mark
        self.anchor = anchor
        self.size = 1  # nodes, aliases expanded
        self.height = 1  # nesting levels, this one included
        self.has_key = False  # a mapping's key is read, its value pending
        self.key: str | None = None  # that key; None for a `<<` merge key
        self.key_mark: Mark = mark
        self.merges: list[tuple[Any, Mark]] = []


def read(text: str, source: str) -> Document:
    """Build the document, or raise PolicyError naming the first limit or syntax problem."""
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    nodes = aliases = documents = 0

    def fail(at: Mark, message: str) -> PolicyError:
        return PolicyError([Problem(source, at[0], at[1], message)])

    def count(values: int, at: Mark) -> None:
        nonlocal nodes
        nodes += values
        if nodes > MAX_NODES:
            raise fail(at, f"more than {MAX_NODES:,} values (an alias counts as all the values it repeats): "
                           f"the limit is {MAX_NODES:,}")

    frames: list[_Frame] = []
    anchors: dict[str, tuple[Any, int, int] | _Frame] = {}  # name -> (value, size, height), or its open frame
    marks: dict[int, dict[Any, tuple[Mark, Mark]]] = {}
    root: Any = None
    for event in _events(text, source):
        kind = type(event)
        at = (event.start_mark.line + 1, event.start_mark.column + 1)
        merge_key = False
        if kind is ScalarEvent:
            value, size, height = _scalar(event, at, fail), 1, 0
            count(1, at)
            merge_key = value == "<<" and event.tag is None and bool(event.implicit[0])
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1, 0)
        elif kind is AliasEvent:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise fail(at, f"more than {MAX_ALIASES:,} aliases (*name): the limit is {MAX_ALIASES:,}")
            target = anchors.get(event.anchor)
            if target is None:
                raise fail(at, f"YAML syntax: alias *{event.anchor} names no anchor defined before it")
            if isinstance(target, _Frame):
                raise fail(at, f"YAML syntax: alias *{event.anchor} refers to a list or mapping that contains it")
            value, size, height = target
            count(size, at)
            if len(frames) + height > MAX_DEPTH:
                raise fail(at, f"alias *{event.anchor} nests values more than {MAX_DEPTH} levels deep: "
                               f"the limit is {MAX_DEPTH}")
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            sequence = kind is SequenceStartEvent
            if event.tag is not None and event.tag not in ("!", _TAG + ("seq" if sequence else "map")):
                raise fail(at, f"tag {event.tag} is not supported in a policy")
            frame = _Frame([] if sequence else {}, at, event.anchor)
            frames.append(frame)
            if len(frames) > MAX_DEPTH:
                raise fail(at, f"values nest more than {MAX_DEPTH} levels deep: the limit is {MAX_DEPTH}")
            count(1, at)
            if event.anchor is not None:
                anchors[event.anchor] = frame
            continue
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            frame = frames.pop()
            if frame.merges:
                _merge(frame, marks, fail)
            marks[id(frame.value)] = frame.marks
            value, size, height, at = frame.value, frame.size, frame.height, frame.mark
            if frame.anchor is not None and anchors.get(frame.anchor) is frame:
                anchors[frame.anchor] = (value, size, height)
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise fail(at, "a policy is one YAML document: remove the second '---' and what follows it")
            continue
        else:
            continue
        if not frames:
            root = value
            continue
        parent = frames[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            parent.marks[len(parent.value)] = (at, at)
            parent.value.append(value)
        elif not parent.has_key:
            if isinstance(value, (dict, list)):
                raise fail(at, "a mapping key must be a single value (a string), not a list or mapping")
            key = None if merge_key else str(value)
            if key is not None and key in parent.marks:
                raise fail(at, f"YAML syntax: duplicate key {key!r} (first at line {parent.marks[key][0][0]})")
            parent.has_key, parent.key, parent.key_mark = True, key, at
        else:
            if parent.key is None:
                parent.merges.append((value, at))
            else:
                parent.value[parent.key] = value
                parent.marks[parent.key] = (parent.key_mark, at)
            parent.has_key = False
    return Document(root, marks)


def _merge(frame: _Frame, marks: dict[int, dict[Any, tuple[Mark, Mark]]], fail: Any) -> None:
    """`<<: *base` (or a list of them): keys not set in the mapping itself, earlier sources first."""
    assert isinstance(frame.value, dict)
    for value, at in frame.merges:
        for source in value if isinstance(value, list) else [value]:
            if not isinstance(source, dict):
                raise fail(at, "'<<' merges a mapping, or a list of mappings, into this one")
            located = marks.get(id(source), {})
            for key, item in source.items():
                if key not in frame.value:
                    frame.value[key] = item
                    frame.marks[key] = located.get(key, (at, at))


def _scalar(event: Any, at: Mark, fail: Any) -> Any:
    value: str = event.value
    if len(value) > MAX_STRING:
        raise fail(at, f"a value of {len(value):,} characters: the limit is {MAX_STRING:,}")
    tag = event.tag
    if tag is None and event.implicit[0]:
        return resolve(value)
    if tag is None or tag in ("!", _TAG + "str"):
        return value
    typed = {_TAG + "int": _INT, _TAG + "float": _FLOAT, _TAG + "bool": _BOOL, _TAG + "null": _NULL}.get(tag)
    if typed is None:
        raise fail(at, f"tag {tag} is not supported in a policy")
    resolved = resolve(value)
    if not typed.match(value) and not (tag == _TAG + "null" and value == ""):
        raise fail(at, f"{value!r} is not a valid {tag.removeprefix(_TAG)}")
    return resolved


def resolve(text: str) -> Any:
    """A plain scalar's value under YAML 1.2's core schema, as ruamel.yaml resolves it."""
    if not text:
        return None
    first = text[0]
    if first in "tTfF" and _BOOL.match(text):
        return first in "tT"
    try:
        if first in "-+0123456789." and _FLOAT.match(text):
            number = text.replace("_", "").lower()
            sign = -1.0 if number[0] == "-" else 1.0
            number = number.lstrip("+-")
            if number == ".inf":
                return sign * float("inf")
            return float("nan") if number == ".nan" else sign * float(number)
        if first in "-+0123456789" and _INT.match(text):
            number = text.replace("_", "")
            sign = -1 if number[0] == "-" else 1
            number = number.lstrip("+-")
            base = {"0b": 2, "0o": 8, "0x": 16}.get(number[:2], 10)
            return sign * int(number[2:] if base != 10 else number, base)
    except ValueError:
        return text  # matched the pattern but holds no digits (e.g. "-_"): text, as ruamel keeps it
    if first in "~nN" and _NULL.match(text):
        return None
    return text


def _events(text: str, source: str) -> Iterator[Any]:
    """The parser's events, lazily; its errors as PolicyError at their position."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import StreamEndEvent

    try:
        from _ruamel_yaml import CParser
    except ImportError:  # no C extension on this platform: the same events, more slowly
        from ruamel.yaml import YAML

        events: Iterator[Any] = iter(YAML(typ="safe", pure=True).parse(text))
    else:
        get = CParser(text).get_event
        events = iter(get, None)
    try:
        for event in events:
            yield event
            if type(event) is StreamEndEvent:
                return
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise PolicyError([Problem(source, line, col, f"YAML syntax: {what}")]) from None
    except YAMLError as exc:
        position = getattr(exc, "position", None)
        line, col = (0, 0)
        if isinstance(position, int):
            before = text[:position]
            line, col = before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise PolicyError([Problem(source, line, col, f"YAML syntax: {reason}")]) from None

"""JSON on the push path through CPython's own C codec, without importing the `json` package.

`import json` imports `re`, which imports `enum`, `functools` and `collections`: about 8 ms
of a pre-receive hook that costs about 60 ms, paid on every push for three calls (the hook's
config, the compiled-policy cache, the audit line). The encoder and scanner below are the C
functions `json.dumps` and `json.loads` themselves use (`_json.make_encoder`,
`_json.make_scanner`), set up as json/encoder.py and json/scanner.py set them up, so the
text is the same: tests/test_quickjson.py pins both directions to the `json` package.
Everything off the push path uses `json` directly.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


def _unserialisable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Context:
    """What `_json.make_scanner` reads from a JSONDecoder: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan: Any = None


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """json.dumps(value, sort_keys=sort_keys): ASCII, `", "` and `": "` separators, NaN allowed,
    circular references refused."""
    if isinstance(value, str):  # the C encoder takes containers; json.dumps special-cases strings too
        return _json.encode_basestring_ascii(value)
    # a new encoder per call, as json.dumps makes: its `markers` (circular references) stay clean
    iterencode = _json.make_encoder({}, _unserialisable, _json.encode_basestring_ascii, None, ": ", ", ",
                                    sort_keys, False, True)
    return "".join(iterencode(value, 0))


def loads(text: str | bytes) -> Any:
    """json.loads(text) for a document in UTF-8: json.JSONDecodeError (a ValueError) for anything
    that is not one JSON value."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    global _scan
    if _scan is None:
        # typeshed asks for a JSONDecoder; the scanner reads only _Context's six attributes
        _scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
        if not text[end:].strip(_WHITESPACE):
            return value
    except Exception:  # noqa: BLE001 - json.loads below says what is wrong
        pass
    # Not one JSON value. The C scanner reports most errors through json.decoder, which it finds
    # only if imported (else a SystemError): json itself raises the error, with its message.
    import json

    return json.loads(text)

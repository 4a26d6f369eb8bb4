"""`deny_unsafe_models: {paths, safe_globals, max_file_size, max_push_size}`: no new commit adds a
model file that can run code when it is loaded.

Files are judged by their contents, never their names: a pickle (protocol 2+ by its PROTO
header; protocol 0/1, which is text, when the file starts with a complete pickle), a zip holding
pickles (PyTorch's .pt/.bin checkpoints, .npz), a legacy PyTorch file or a NumPy object array,
under any name (`.bin`, `.pt`, `.pkl`, `.ckpt`, none), is scanned with picklescan; a global it
imports outside picklescan's safe list (and the policy's `safe_globals`) denies the file, since
`pickle.load` would call it. Safetensors and GGUF files are recognised by their headers and
pass. Any other file is not a model. A file over `max_file_size` is judged by its first bytes:
a safetensors or GGUF header passes, text is not a model, and anything else fails closed, since
it cannot be scanned. Past `max_push_size` bytes of contents the rule fails closed.

picklescan is imported only when a file needs scanning.
"""

from __future__ import annotations

import struct

from engine.change import show
from engine.decision import Outcome
from engine.facts.content import ContentLimit
from engine.rules.content import ContentRule, Touch, is_binary, plural, touched, what
from engine.rules.max_file_size import format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NamedTuple

    from engine.change import RefUpdate
    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

HEAD = 64  # bytes kept of a file over max_file_size: enough for every header judged here
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
_NUMPY = b"\x93NUMPY"


class DenyUnsafeModelsParams(NamedTuple):
    paths: tuple[str, ...] | None = None  # None: every path
    safe_globals: tuple[str, ...] | None = None  # "module.name" or "module.*" beyond picklescan's safe list
    max_file_size: int | str = "100MiB"
    max_push_size: int | str = "256MiB"


class Verdict(NamedTuple):
    """What a file is: `format` (safetensors, gguf, pickle, zip, ... or "" when not a model) and, if
    it is unsafe or cannot be judged, why."""

    format: str
    unsafe: tuple[str, ...] = ()  # globals ("module.name (dangerous)") outside the safe list
    error: str = ""  # why it could not be judged


class DenyUnsafeModels(ContentRule):
    kind = "deny_unsafe_models"
    Params = DenyUnsafeModelsParams
    params: DenyUnsafeModelsParams
    reading = "judge"
    lighter = "push fewer commits or smaller files at a time (model weights belong in a model registry)"

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        max_file, max_push = self.caps()
        touches, submodules = touched(facts, updates, self.refs, self.patterns.get("paths"))
        try:
            blobs = facts.blob_contents([t.oid for t in touches], max_blob=max_file, max_total=max_push, head=HEAD)
        except ContentLimit as exc:
            return self.over_push_cap(exc)
        verdicts: dict[str, Verdict] = {}
        safe = frozenset(self.params.safe_globals or ())
        for t in touches:
            if t.oid in verdicts:
                continue  # the same contents under another name or commit: judged once
            if t.oid in blobs.data:
                verdicts[t.oid] = judge_model(blobs.data[t.oid], t.path, safe)
            elif t.oid in blobs.heads:
                verdicts[t.oid] = _judge_head(blobs.heads[t.oid], blobs.over[t.oid], self.params.max_file_size)
            else:
                verdicts[t.oid] = Verdict("unknown", error="its contents are not there")
        bad: list[Touch] = []
        seen: list[str] = []
        recognised: dict[str, int] = {}
        for t in touches:
            v = verdicts[t.oid]
            if v.unsafe:
                bad.append(t)
                seen.append(f"{what(t)}: a {v.format} that imports {', '.join(v.unsafe[:4])}"
                            f"{' and more' if len(v.unsafe) > 4 else ''}; loading it runs code")
            elif v.error:
                bad.append(t)
                seen.append(f"{what(t)}: cannot be judged: {v.error}")
            elif v.format:
                recognised[v.format] = recognised.get(v.format, 0) + 1
        notes = [f"{count} {fmt}" for fmt, count in sorted(recognised.items())]
        note = f"; recognised: {', '.join(notes)}" if notes else ""
        if submodules:
            note += f"; {plural(submodules, 'submodule entry')} skipped"
        if not bad:
            return self.outcome("pass", f"no unsafe model among {plural(len(touches), 'new or changed file')}{note}")
        return self.outcome(
            "fail", f"{plural(len(bad), 'model file')} that can run code when loaded, or cannot be judged{note}",
            seen=seen, paths=[t.path.decode("utf-8", "backslashreplace") for t in bad],
            required="model files in new commits hold tensors only (safetensors, GGUF) or pickles importing "
                     "only picklescan's safe globals" + (f" and {', '.join(sorted(safe))}" if safe else ""),
            fix="convert the model to safetensors (or GGUF) and push that instead, removing the pickle from every "
                "new commit (git rebase -i, or git filter-repo --invert-paths --path PATH); a global known to be "
                "safe can be listed in the rule's safe_globals")


NOT_A_MODEL = Verdict("")


def header_format(data: bytes, size: int) -> str:
    """"safetensors" or "gguf" when `data` (a file's first bytes, or all of it) starts with that
    format's header; else ""."""
    if data.startswith(b"GGUF") and len(data) >= 8 and 1 <= struct.unpack("<I", data[4:8])[0] <= 3:
        return "gguf"
    if len(data) >= 10 and data[8:9] == b"{":
        (length,) = struct.unpack("<Q", data[:8])
        if 2 <= length <= size - 8:
            if len(data) < size:  # only the head: the declared header fits and starts as JSON
                return "safetensors"
            header = data[8:8 + length].rstrip(b" ")
            if header.endswith(b"}"):
                return "safetensors"
    return ""


def judge_model(data: bytes, path: bytes, safe: frozenset[str] = frozenset()) -> Verdict:
    """What a file's contents are, and whether loading them could run code."""
    known = header_format(data, len(data))
    if known:
        return Verdict(known)
    if data.startswith(_ZIP):
        kind = "zip archive of pickles (e.g. a PyTorch checkpoint)"
    elif data.startswith(_SEVEN_ZIP):
        kind = "7z archive"
    elif data.startswith(_NUMPY):
        kind = "NumPy array"
    elif data[:1] == b"\x80" and data[1:2] and data[1] <= 5:
        kind = "pickle"
    elif is_binary(data):
        kind = "binary file"  # not a pickle, unless picklescan finds globals in it
    elif _starts_with_pickle(data):
        kind = "pickle (text protocol)"
    else:
        return NOT_A_MODEL
    return _scan(data, kind, show(path), safe)


def _judge_head(head: bytes, size: int, cap: int | str) -> Verdict:
    known = header_format(head, size)
    if known:
        return Verdict(known)
    if not is_binary(head) and not head.startswith(b"\x80"):
        return Verdict("")  # text: a text pickle this large is judged unlikely; counted as not a model
    return Verdict("large file", error=f"{format_size(size)}, over max_file_size {cap}, and not a safetensors or "
                                       "GGUF file: too large to scan")


def _starts_with_pickle(data: bytes) -> bool:
    """Whether `data` starts with a complete pickle: how a text (protocol 0/1) pickle is told from
    text. What follows its STOP does not matter, since `pickle.load` stops there; a text file
    fails within a few bytes."""
    if data[:1].decode("latin-1") not in _opcodes():
        return False
    import io
    import pickletools

    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception:  # noqa: BLE001 - any parse error means: not a pickle
        return False
    return True


_OPCODES: list[frozenset[str]] = []


def _opcodes() -> frozenset[str]:
    """The pickle opcodes (one character each): a pickle's first byte is one of them."""
    if not _OPCODES:
        import pickletools

        _OPCODES.append(frozenset(op.code for op in pickletools.opcodes))
    return _OPCODES[0]


def _scan(data: bytes, kind: str, name: str, safe: frozenset[str]) -> Verdict:
    import io
    import logging

    log = logging.getLogger("picklescan")  # its warnings would reach the pusher's terminal
    log.disabled = True
    from picklescan.scanner import SafetyLevel, scan_bytes

    try:
        result = scan_bytes(io.BytesIO(data), name, ".npy" if kind == "NumPy array" else None)
    except Exception as exc:  # noqa: BLE001 - a file the scanner cannot read cannot be judged safe
        return Verdict(kind, error=f"picklescan could not scan this {kind}: {type(exc).__name__}: {exc}")
    unsafe = sorted({f"{g.module}.{g.name} ({g.safety.value})" for g in result.globals
                     if g.safety != SafetyLevel.Innocuous and not _listed(g.module, g.name, safe)})
    if not result.globals and kind == "binary file":
        return Verdict("")
    return Verdict(kind if result.globals or kind != "binary file" else "", tuple(unsafe))


def _listed(module: str, name: str, safe: Sequence[str] | frozenset[str]) -> bool:
    return f"{module}.{name}" in safe or f"{module}.*" in safe

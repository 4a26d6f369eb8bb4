"""`max_file_size: {limit: 10MiB, paths: [...], lfs: allowed | required}`: no new commit adds or
changes a file larger than the limit.

Checked per commit, blob by blob, so a large file added and removed within one push is still
caught. Deleting a file is allowed; a submodule entry (a commit, which has no size) is skipped
and counted. A Git LFS pointer, the small text file git stores for a file LFS tracks, passes
whatever size it declares, and is reported with it: the content lives outside git.
Different limits for different paths are different rules.
"""

from __future__ import annotations

from engine.change import Commit, RefUpdate, show
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, NamedTuple

    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

# A size in a policy: bytes as an integer, or a number with a unit. The schema's `size` pattern
# (policies/schema/kinds/max_file_size.json) is this very string; split_size() reads a size
# exactly as the schema validator's re.search with it does (tests/rules/test_max_file_size.py
# compares the two), so a size that validates always parses, without importing `re` on every push.
SIZE_PATTERN = r"^([0-9]+)(\.[0-9]+)? ?(B|KB|KiB|MB|MiB|GB|GiB)$"
SIZE_MAX_LENGTH = 32
_UNITS = {"B": 1, "KB": 10**3, "KiB": 1 << 10, "MB": 10**6, "MiB": 1 << 20, "GB": 10**9, "GiB": 1 << 30}
_LONGEST_FIRST = sorted(_UNITS, key=len, reverse=True)

# Git LFS pointer files (the spec's docs/spec.md): under 1024 bytes, UTF-8, `key value` lines
# each ending in LF, `version` first and the other keys in ascending order, among them
# `oid sha256:<64 hex>` and `size <bytes>`.
POINTER_BELOW = 1024
_POINTER_VERSION = b"version https://git-lfs.github.com/spec/v1\n"
POINTER_MIN = len(_POINTER_VERSION) + len(b"oid sha256:\n") + 64 + len(b"size 0\n")  # no smaller blob is one
_KEY_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789.-")
_HEX = frozenset(b"0123456789abcdef")

_VERB = {"A": "adds", "M": "changes", "T": "changes the type of"}
_SUBMODULE = "160000"


def parse_size(value: object) -> int:
    """Bytes in a policy size: an integer of bytes, or `10MiB`, `1.5 GB`, `512KiB` (KB, MB, GB are
    powers of 1000; KiB, MiB, GiB of 1024). A fraction of a byte is dropped: sizes are whole bytes,
    so `size > 1.5B` and `size > 1B` are the same test."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and value == int(value):
        return int(value)  # JSON Schema counts 2048.0 as an integer too
    found = split_size(value) if isinstance(value, str) and len(value) <= SIZE_MAX_LENGTH else None
    if found is None:
        raise ValueError(f"{value!r} is not a size: write bytes as an integer, or a number with one of the units "
                         f"{', '.join(_UNITS)}, e.g. 10MiB, 1.5GB, 512KiB")
    whole, fraction, unit = found
    digits = (fraction or ".")[1:]
    scale: int = 10 ** len(digits)
    return int(whole + digits) * _UNITS[unit] // scale


def split_size(text: str) -> tuple[str, str | None, str] | None:
    """The groups re.search(SIZE_PATTERN, text) gives (whole digits, "." and fraction digits or
    None, unit), or None where it finds no match. `$` also matches before one final newline."""
    body = text[:-1] if text.endswith("\n") else text
    unit = next((u for u in _LONGEST_FIRST if body.endswith(u)), None)
    if unit is None:
        return None
    number = body[:-len(unit)]
    if number.endswith(" "):
        number = number[:-1]
    whole, dot, fraction = number.partition(".")
    if not _ascii_digits(whole) or (dot and not _ascii_digits(fraction)):
        return None
    return whole, "." + fraction if dot else None, unit


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # [0-9]+: no other script's digits, not empty


def format_size(size: int) -> str:
    """12.3 MiB, 980 B: binary units, as `ls -lh` and git's own messages count."""
    if size < 1024:
        return f"{size} B"
    amount = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        amount /= 1024
        if amount < 1024 or unit == "TiB":
            break
    return f"{amount:.1f} {unit}"


def _bytes(size: int) -> str:
    return f"{size:,} byte{'' if size == 1 else 's'}"


def lfs_pointer_size(data: bytes) -> int | None:
    """The size a Git LFS pointer declares, or None if `data` is not exactly a well-formed pointer.

    Strict on purpose: only a pointer passes whatever size it names, so a file that merely
    starts like one, is 1024 bytes or more, or breaks any rule of the spec is judged as itself.
    """
    if len(data) >= POINTER_BELOW or not data.startswith(_POINTER_VERSION) or not data.endswith(b"\n"):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[bytes, bytes] = {}
    previous = b""
    for line in data[len(_POINTER_VERSION):-1].split(b"\n"):
        key, space, value = line.partition(b" ")
        if (not space or not key or key <= previous or key == b"version" or not _KEY_BYTES.issuperset(key)
                or b"\r" in value):
            return None  # no value, a bad key, keys out of order or repeated, a CR
        fields[key] = value
        previous = key
    oid, size = fields.get(b"oid", b""), fields.get(b"size", b"")
    if not (oid.startswith(b"sha256:") and len(oid) == 71 and _HEX.issuperset(oid[7:])):
        return None
    if not size.isdigit() or (size.startswith(b"0") and size != b"0"):
        return None
    return int(size)


class MaxFileSizeParams(NamedTuple):
    limit: int | str
    paths: tuple[str, ...] | None = None  # None: every path
    lfs: Literal["allowed", "required"] = "allowed"


class _Seen(NamedTuple):
    """One blob a new commit brings to a path this rule covers."""

    update: RefUpdate
    commit: Commit
    status: str
    path: bytes
    oid: str
    pattern: str  # the pattern that matched ("" when the rule covers every path)


class MaxFileSize(Rule):
    kind = "max_file_size"
    Params = MaxFileSizeParams
    params: MaxFileSizeParams
    pattern_fields = ("paths",)
    reads_paths = True

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        limit = parse_size(self.params.limit)
        found, submodules = self._blobs(facts, updates)
        sizes = facts.blob_sizes([s.oid for s in found])
        small = facts.small_blobs([s.oid for s in found if POINTER_MIN <= sizes.get(s.oid, 0) < POINTER_BELOW],
                                  POINTER_BELOW)  # only a blob of a pointer's size is read
        over: list[_Seen] = []
        seen: list[str] = []
        pointers: list[str] = []
        unknown = 0
        for s in found:
            size = sizes.get(s.oid)
            if size is None:  # doubt denies: a size nobody can tell may be over the limit
                unknown += 1
                over.append(s)
                seen.append(f"{_what(s)}: size unknown (object {short(s.oid) or 'not given'})")
                continue
            declared = lfs_pointer_size(small[s.oid]) if s.oid in small else None
            if declared is not None:
                pointers.append(f"{_what(s)}: a Git LFS pointer to {format_size(declared)} ({_bytes(declared)}), "
                                "stored outside git")
            elif size > limit:
                over.append(s)
                seen.append(f"{_what(s)}: {format_size(size)} ({_bytes(size)})")
        limit_text = f"{self.params.limit} ({_bytes(limit)})" if isinstance(self.params.limit, str) else _bytes(limit)
        scope = " matching " + ", ".join(self.params.paths) if self.params.paths else ""
        notes = []
        if pointers:
            notes.append(f"{len(pointers)} Git LFS pointer(s) passed")
        if submodules:
            entries = "entry" if submodules == 1 else "entries"
            notes.append(f"{submodules} submodule {entries} skipped (a commit has no size)")
        note = "; " + "; ".join(notes) if notes else ""
        if not over:
            return self.outcome("pass", f"no file over {limit_text} among {len(found)} new or changed file(s)"
                                        f"{scope}{note}", seen=pointers)
        lfs = self.params.lfs == "required"
        required = f"no new commit adds or changes a file over {limit_text}{scope}"
        required += " unless it is stored through Git LFS" if lfs else " (a Git LFS pointer passes)"
        message = f"{len(over)} file(s) over {limit_text} in new commits"
        if unknown:
            message += f"; {unknown} of unknown size"
        return self.outcome("fail", message + note, seen=seen, required=required, fix=self._fix(over, limit, lfs),
                            paths=[s.path.decode("utf-8", "backslashreplace") for s in over])

    def _blobs(self, facts: Facts, updates: list[RefUpdate]) -> tuple[list[_Seen], int]:
        """Every blob the new commits add or change at a covered path, and how many submodule
        entries they bring there."""
        matcher = self.patterns.get("paths")
        verdicts: dict[bytes, str | None] = {}
        found: list[_Seen] = []
        new = _Seen._make  # a plain tuple construction: a large push brings tens of thousands
        submodules = 0
        for u in updates:
            # every changed path of these commits, selected in one pass with the other rules' patterns
            selected = matcher.select(facts.changes_for(u, self.refs)) if matcher is not None else {}
            for commit in facts.commits_for(u, self.refs):
                for changed in commit.paths:
                    if changed.status not in _VERB:
                        continue  # a deletion removes a file rather than adding one
                    if changed.path not in verdicts:
                        verdict = selected.get(changed.path) if matcher is not None else None
                        verdicts[changed.path] = verdict.pattern if verdict else (None if matcher else "")
                    pattern = verdicts[changed.path]
                    if pattern is None:
                        continue
                    if changed.mode == _SUBMODULE:
                        submodules += 1
                        continue
                    found.append(new((u, commit, changed.status, changed.path, changed.oid, pattern)))
        return found, submodules

    def _fix(self, over: list[_Seen], limit: int, lfs: bool) -> str:
        import shlex

        tracks = list(dict.fromkeys(_lfs_pattern(s) for s in over))[:5]
        migrate = (f"git lfs track {' '.join(shlex.quote(t) for t in tracks)} (and commit .gitattributes), then "
                   f"git lfs migrate import --include={shlex.quote(','.join(tracks))} to rewrite the new commits, "
                   "and push again")
        if lfs:
            return f"store these files through Git LFS: {migrate}"
        return (f"remove the files from every new commit (git rebase -i, or git filter-repo "
                f"--strip-blobs-bigger-than {limit}) and push again; or store them through Git LFS: {migrate}")


def _what(seen: _Seen) -> str:
    """Which commit brings which path, and how: "commit 1a2b3c4d5e on refs/heads/main adds w.bin"."""
    commit = seen.commit
    return (f"{'tree' if commit.oid == commit.tree else 'commit'} {short(commit.oid)} on {seen.update.name} "
            f"{_VERB[seen.status]} {show(seen.path)}")


def _lfs_pattern(seen: _Seen) -> str:
    """What to give `git lfs track`: the rule's pattern that matched (a directory pattern as
    everything below it, as .gitattributes needs), or the file itself when the rule covers every path."""
    if not seen.pattern:
        return show(seen.path)
    return seen.pattern + "**" if seen.pattern.endswith("/") else seen.pattern

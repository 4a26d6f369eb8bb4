"""Path and ref patterns: git's own `.gitignore` semantics, on raw bytes, in linear time.

A pattern means exactly what it means in a `.gitignore` line, as git's `dir.c` and
`wildmatch.c` (WM_PATHNAME) define it: trailing unescaped spaces are trimmed, `!` negates,
a trailing `/` matches directories only, a pattern with no other `/` matches a basename at
any depth, `?`, `*`, `[...]` never match `/`, `**` crosses directories only between slashes,
the last matching pattern wins, and nothing below a matched directory can be re-included.
Paths and ref names are opaque bytes: no construct stops at a line break or any other byte.

Patterns are translated to regular expressions when a policy is compiled (the compiled
policy is cached as JSON); matching uses RE2, so a pattern list costs linear time whatever
it holds, and one `RE2::Set` pass tells every pattern that matches a name.

Path patterns of deny-side rules are also matched *normalised* by default: a path is
matched if it matches exactly, or if its normalised form (UTF-8 NFKC, case-folded, format
characters removed, trailing spaces and dots of each component stripped) matches the
normalised patterns. Two full evaluations OR-ed: normalisation only ever adds matches.
"""

from __future__ import annotations

from engine.resources import package_folder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from typing import Any, NamedTuple

    # The compiled form (JSON): per pattern, in policy order, [regex or None (never matches), flags].
    Compiled = dict[str, list[list[Any]] | None]
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing (hook path)

NEGATIVE = 1  # "!pattern": a match un-matches
DIR_ONLY = 2  # "pattern/": matches directories only

_SPECIAL = b"*?[\\"  # git's is_glob_special


def _bytes(*spans: tuple[int, int]) -> frozenset[int]:
    return frozenset(b for lo, hi in spans for b in range(lo, hi + 1))


_DIGIT, _UPPER, _LOWER = _bytes((0x30, 0x39)), _bytes((0x41, 0x5A)), _bytes((0x61, 0x7A))
_CLASSES: dict[bytes, frozenset[int]] = {  # wildmatch's [:name:]: git's locale-free ASCII ctype
    b"alnum": _DIGIT | _UPPER | _LOWER, b"alpha": _UPPER | _LOWER, b"blank": _bytes((0x20, 0x20), (9, 9)),
    b"cntrl": _bytes((0, 0x1F), (0x7F, 0x7F)), b"digit": _DIGIT, b"graph": _bytes((0x21, 0x7E)),
    b"lower": _LOWER, b"print": _bytes((0x20, 0x7E)), b"space": _bytes((9, 10), (13, 13), (0x20, 0x20)),
    b"punct": _bytes((0x21, 0x7E)) - _DIGIT - _UPPER - _LOWER, b"upper": _UPPER,
    b"xdigit": _DIGIT | _bytes((0x41, 0x46), (0x61, 0x66)),
}


class PatternError(ValueError):
    """A pattern that git would never match as written."""


class Verdict(NamedTuple):
    """Why a name matched: the deciding pattern and whether only the normalised name matched."""

    pattern: str
    normalized: bool


# --------------------------------------------------------------------------- compile time

def compile_patterns(patterns: Sequence[str], *, normalize: bool = False) -> Compiled:
    """Translate patterns to regexes over bytes; PatternError for one git could never match."""
    exact: list[list[Any]] = []
    normalized: list[list[Any]] = []
    for pattern in patterns:
        try:
            raw = pattern.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise PatternError(f"{pattern!r} is not encodable as UTF-8") from None
        if b"\0" in raw:
            raise PatternError(f"{pattern!r} contains a NUL byte, which no path or ref name can hold")
        if not raw.strip(b" ") or raw.startswith(b"#"):
            what = "a comment (a leading '#'; write '\\#' for a literal '#')" if raw.startswith(b"#") else "empty"
            raise PatternError(f"{pattern!r} can never match: it is {what}")
        body, flags = parse_line(raw)
        regex = translate(body)
        if regex is None:
            raise PatternError(f"{pattern!r} can never match (an empty pattern, a trailing '\\', an unclosed "
                               "'[', an unknown [:class:] or a bracket that only holds '/')")
        exact.append([regex, flags])
        if normalize:
            normal = _normalize_body(body)
            normalized.append([regex if normal == body else translate(normal), flags])
    return {"exact": exact, "normalized": normalized if normalize else None}


def parse_line(raw: bytes) -> tuple[bytes, int]:
    """git's reading of one pattern line (trim_trailing_spaces, parse_path_pattern): (body, flags)."""
    raw = _trim_trailing_spaces(raw)
    flags = 0
    if raw.startswith(b"!"):
        flags |= NEGATIVE
        raw = raw[1:]
    if raw.endswith(b"/"):
        flags |= DIR_ONLY
        raw = raw[:-1]
    return raw, flags


def _trim_trailing_spaces(raw: bytes) -> bytes:
    """Unescaped trailing spaces go; `\\ ` keeps its space; a trailing `\\` keeps everything."""
    last_space = None
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x20:
            if last_space is None:
                last_space = i
        elif c == 0x5C:
            i += 1
            if i == len(raw):
                return raw
            last_space = None
        else:
            last_space = None
        i += 1
    return raw if last_space is None else raw[:last_space]


def translate(body: bytes) -> str | None:
    """The regex (ASCII text over Latin-1 bytes, anchored by the caller) matching what git's
    match_basename / match_pathname match for a parsed pattern; None when nothing can match."""
    if not body:
        return None
    if b"/" not in body:  # PATTERN_FLAG_NODIR: the basename, at any depth
        tail = _wildmatch(body, pathname=False)
        return None if tail is None else "(?s)(?:.*/)?" + tail
    if body.startswith(b"/"):
        body = body[1:]
        if not body:
            return None
    # match_pathname compares the literal prefix, then wildmatches the rest as a pattern of its
    # own, so a `**` right after the prefix starts a pattern: in git `x/a**` matches `x/ab/c`.
    prefix = len(body)
    for i, c in enumerate(body):
        if c in _SPECIAL:
            prefix = i
            break
    tail = _wildmatch(body[prefix:], pathname=True)
    return None if tail is None else "(?s)" + _literal(body[:prefix]) + tail


def _wildmatch(p: bytes, *, pathname: bool) -> str | None:
    """wildmatch.c's dowild as a regex; None when it can only ever abort (never match)."""
    out: list[str] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == 0x5C:  # backslash: the next byte literally; a trailing one never matches
            if i + 1 == n:
                return None
            out.append(_literal(p[i + 1:i + 2]))
            i += 2
        elif c == 0x3F:  # ?
            out.append("[^/]")
            i += 1
        elif c == 0x2A:  # *
            j = i
            while j < n and p[j] == 0x2A:
                j += 1
            if pathname and j - i >= 2 and (i == 0 or p[i - 1] == 0x2F):
                if j == n:  # trailing "**": everything below
                    out.append(".*")
                    i = j
                    continue
                if p[j] == 0x2F:  # "**/": zero or more directories
                    out.append("(?:.*/)?")
                    i = j + 1
                    continue
                if p[j:j + 2] == b"\\/":  # "**\/": one or more (git tries zero only for a plain "/")
                    out.append(".*")
                    i = j
                    continue
            out.append("[^/]*")
            i = j
        elif c == 0x5B:  # [
            parsed = _bracket(p, i)
            if parsed is None:
                return None
            cls, i = parsed
            out.append(cls)
        else:
            out.append(_literal(p[i:i + 1]))
            i += 1
    return "".join(out)


def _bracket(p: bytes, i: int) -> tuple[str, int] | None:
    """A bracket expression at p[i] == '[' as wildmatch reads it: (regex class, index after it)."""
    n = len(p)
    i += 1
    if i < n and p[i] in b"!^":
        negated = True
        i += 1
    else:
        negated = False
    members: set[int] = set()
    prev = 0
    while True:  # do { ... } while (p_ch != ']'): the first member may be ']'
        if i >= n:
            return None  # unclosed
        c = p[i]
        if c == 0x5C:
            i += 1
            if i >= n:
                return None
            c = p[i]
            members.add(c)
        elif c == 0x2D and prev and i + 1 < n and p[i + 1] != 0x5D:  # a range prev-next
            i += 1
            c = p[i]
            if c == 0x5C:
                i += 1
                if i >= n:
                    return None
                c = p[i]
            members.update(range(prev, c + 1))
            c = 0
        elif c == 0x5B and i + 1 < n and p[i + 1] == 0x3A:  # "[:"
            s = i + 2
            k = p.find(b"]", s)
            if k < 0:
                return None
            if k - s - 1 < 0 or p[k - 1] != 0x3A:  # no ":]": an ordinary '['
                members.add(0x5B)
                c = 0x5B
            else:
                name = p[s:k - 1]
                if name not in _CLASSES:
                    return None  # malformed class: wildmatch aborts
                members.update(_CLASSES[name])
                i = k
                c = 0
        else:
            members.add(c)
        prev = c
        i += 1
        if i < n and p[i] == 0x5D:
            break
    allowed = (set(range(256)) - members if negated else members) - {0x2F}  # never '/'
    if not allowed:
        return None
    return _byte_class(allowed), i + 1


def _byte_class(members: set[int]) -> str:
    ranges: list[str] = []
    ordered = sorted(members)
    start = prev = ordered[0]
    for b in [*ordered[1:], -1]:
        if b == prev + 1:
            prev = b
            continue
        ranges.append(f"\\x{start:02x}" if start == prev else f"\\x{start:02x}-\\x{prev:02x}")
        start = prev = b
    return "[" + "".join(ranges) + "]"


def _literal(raw: bytes) -> str:
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\x{b:02x}" for b in raw)


# --------------------------------------------------------------------------- normalisation

_NORMALIZED: dict[bytes, bytes] = {}  # every deny rule asks about the same changed paths


def normalize_path(raw: bytes) -> bytes:
    """A path's normalised form: NFKC, case-folded, format characters (Cf) removed, trailing
    spaces and dots of every component stripped. Lossless for bytes that are not UTF-8."""
    normal = _NORMALIZED.get(raw)
    if normal is None:
        if raw.isascii():
            normal = raw.lower()
            if b" /" in normal or b"./" in normal or normal.endswith((b" ", b".")):
                normal = b"/".join(c.rstrip(b" .") for c in normal.split(b"/"))
        else:
            text = _fold(raw.decode("utf-8", "surrogateescape"))
            normal = "/".join(c.rstrip(" .") for c in text.split("/")).encode("utf-8", "surrogateescape")
        _NORMALIZED[raw] = normal
    return normal


def _unchanged(name: bytes) -> bool:
    """Whether normalize_path(name) == name, told cheaply for the common case (lower-case ASCII
    whose components end in neither a space nor a dot); False means "ask normalize_path"."""
    # islower(): some lower-case letter and no upper-case one, without building lower()'s copy
    # (a name with no letter at all is left to normalize_path)
    return (name.isascii() and name.islower() and b" /" not in name and b"./" not in name
            and not name.endswith((b" ", b".")))


def _fold(text: str) -> str:
    import unicodedata

    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _normalize_body(body: bytes) -> bytes:
    """A pattern body normalised like a path. A component's trailing spaces and dots are
    stripped only where a literal remains before them (`*.` stays: it could never match a
    normalised name, where `*` would match everything)."""
    if body.isascii():
        text = body.decode("ascii").lower()
    else:
        text = _fold(body.decode("utf-8", "surrogateescape"))
    components = []
    for component in text.split("/"):
        stripped = component.rstrip(" .")
        if stripped != component:
            escapes = len(stripped) - len(stripped.rstrip("\\"))
            if escapes % 2:  # the stripped space or dot was escaped: drop its backslash
                stripped = stripped[:-1]
            if not stripped or stripped[-1] in "*?]\\":
                stripped = component
        components.append(stripped)
    return "/".join(components).encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- match time

def _re2_core() -> Any:
    """google-re2's C++ binding (`re2._re2`) without running the package's Python wrapper.

    The wrapper (`re2/__init__.py`) imports functools and collections, which nothing else on
    the push path needs: ~6 ms of every push that matches a pattern. The binding is loaded
    through a bare stand-in for the package, which is removed at once, so a later `import re2`
    (the secrets screen, `commit_metadata`) runs the real wrapper, which then finds this
    binding already loaded. Where the package does not look as expected, the wrapper is used.
    """
    import sys

    core = sys.modules.get("re2._re2")
    if core is not None:
        return core
    folder = None if "re2" in sys.modules else package_folder("re2")
    if folder is not None:
        stand_in = type(sys)("re2")
        stand_in.__path__ = [folder]
        sys.modules["re2"] = stand_in
        try:
            __import__("re2._re2")
            return sys.modules["re2._re2"]
        except ImportError:
            sys.modules.pop("re2._re2", None)
        finally:
            del sys.modules["re2"]
    from re2 import _re2

    return _re2


class _Side:
    """One evaluation (exact or normalised) of several pattern lists at once: one RE2 set over
    every list's patterns, so a name is scanned once however many rules ask about it. Each list
    ("owner") keeps git's semantics on its own: its last matching pattern wins, and a directory
    it excludes decides everything below (the verdicts of directories are cached)."""

    __slots__ = ("_dirs", "_flags", "_index", "_owner", "_set")

    def __init__(self, lists: Sequence[list[list[Any]]]) -> None:
        _re2 = _re2_core()
        options = _re2.RE2.Options()
        options.encoding = _re2.RE2.Options.Encoding.LATIN1  # one byte = one character
        options.dot_nl = True
        options.log_errors = False
        options.max_mem = 64 << 20 if len(lists) == 1 else 256 << 20
        self._set = _re2.Set(_re2.RE2.Anchor.ANCHOR_BOTH, options)
        # Index 0 always matches: an RE2 set that fails (out of memory) returns no index at all,
        # which must never read as "no pattern matched".
        self._set.Add(b"(?s).*")
        self._owner = [-1]
        self._index = [-1]
        self._flags = [0]
        for owner, entries in enumerate(lists):
            for index, (regex, flags) in enumerate(entries):
                if regex is None:
                    continue
                if self._set.Add(regex.encode("ascii")) < 0:
                    raise PatternError(f"pattern #{index + 1} does not compile: {regex!r}")
                self._owner.append(owner)
                self._index.append(index)
                self._flags.append(flags)
        if not self._set.Compile():
            raise PatternError("the pattern list does not fit in memory")
        self._dirs: dict[bytes, dict[int, int]] = {}

    def decide(self, name: bytes) -> dict[int, int]:
        """owner -> index of its positive pattern that decides `name` (a file); undecided owners absent."""
        slash = name.rfind(b"/")
        above = _NONE
        if slash >= 0:
            parent = name[:slash]
            above = self._dirs.get(parent) or self._below(parent)
        hits = self._set.Match(name)
        if len(hits) == 1 and hits[0] == 0:
            return above
        own = self._resolve(hits, directory=False)
        if not above:
            return own
        return {**own, **above}  # an owner that excluded a directory decides everything below it

    def _below(self, directory: bytes) -> dict[int, int]:
        """The verdicts for what lies in `directory`: per owner, its first excluding ancestor's, or
        the directory's own (cached)."""
        verdicts = self._dirs.get(directory)
        if verdicts is not None:
            return verdicts
        pending = [directory]  # uncached directories, deepest first (a loop: paths may be deep)
        verdicts = _NONE
        while (slash := pending[-1].rfind(b"/")) >= 0:
            parent = pending[-1][:slash]
            known = self._dirs.get(parent)
            if known is not None:
                verdicts = known
                break
            pending.append(parent)
        for directory in reversed(pending):
            own = self._resolve(self._set.Match(directory), directory=True)
            if own:
                verdicts = {**own, **verdicts} if verdicts else own
            self._dirs[directory] = verdicts
        return verdicts

    def _resolve(self, hits: list[int], *, directory: bool) -> dict[int, int]:
        """Per owner, the last of its patterns among `hits` that applies (directory-only ones to
        directories only): its index if positive; owners whose deciding pattern is negative are absent."""
        if 0 not in hits:
            raise RuntimeError("pattern matching failed (RE2 ran out of memory); denying")
        decided: dict[int, int] = {}
        done: set[int] = set()
        for hit in sorted(hits, reverse=True):
            owner = self._owner[hit]
            if owner < 0 or owner in done:
                continue
            flags = self._flags[hit]
            if flags & DIR_ONLY and not directory:
                continue
            done.add(owner)
            if not flags & NEGATIVE:
                decided[owner] = self._index[hit]
        return decided


_NONE: dict[int, int] = {}  # shared, never mutated: no owner decided


class Matcher:
    """Matches a path or ref name (bytes) like git matches a `.gitignore`, optionally also normalised.

    RE2 is imported and the sets built on the first match, so building a rule costs nothing.
    `decide` asks about one name; `select` picks the matching names out of many, and when the
    matcher is in a `MatcherGroup` the names are scanned once for every member.
    """

    __slots__ = ("_compiled", "_group", "_solo", "patterns")

    def __init__(self, compiled: Compiled, patterns: Sequence[str]) -> None:
        self._compiled = compiled
        self.patterns = tuple(patterns)
        self._solo: _Evaluation | None = None
        self._group: MatcherGroup | None = None

    def match(self, name: bytes) -> bool:
        return self.decide(name) is not None

    def first_pattern(self, name: bytes) -> str:
        """The pattern that decided a match ("" for none), for explanations."""
        verdict = self.decide(name)
        return "" if verdict is None else verdict.pattern

    def decide(self, name: bytes) -> Verdict | None:
        """Why `name` matches (the deciding pattern; whether only its normalised form matched), or None."""
        if self._group is not None:
            return self._group.decide(self, name)
        solo = self._solo or self._build()
        return solo.decide(name).get(0)

    def select(self, names: Collection[bytes]) -> dict[bytes, Verdict]:
        """The names that match, each with its verdict, in the order of `names` (which must not
        change afterwards: a group answers the same collection from its cache)."""
        return (self._group or MatcherGroup([self])).select(self, names)

    def _build(self) -> _Evaluation:
        self._solo = _Evaluation([self])
        return self._solo


DECIDED_KEPT = 10_000  # names whose verdicts a group keeps for `decide` (refs, mostly), then starts over


class MatcherGroup:
    """Matchers that judge the same names (the rules of one policy over one change's paths):
    one RE2 pass per name answers all of them, so a thousand rules cost about what one does."""

    __slots__ = ("_decided", "_done", "_evaluation", "_members", "_owner")

    def __init__(self, matchers: Sequence[Matcher]) -> None:
        self._members = list({id(m): m for m in matchers}.values())
        self._owner = {id(m): owner for owner, m in enumerate(self._members)}
        for m in self._members:
            m._group = self
        self._evaluation: _Evaluation | None = None
        self._done: list[tuple[Collection[bytes], list[dict[bytes, Verdict]], dict[int, Exception]]] = []
        self._decided: dict[bytes, dict[int, Verdict]] = {}  # name -> every member's verdict (decide)

    def forget(self) -> None:
        """Drop the answers kept for the collections asked so far: a caller that judges change after
        change with one group (`policy replay`) calls it between changes, so the answers do not
        pile up (each is kept for one change's collection of names)."""
        self._done.clear()
        self._decided.clear()

    def decide(self, matcher: Matcher, name: bytes) -> Verdict | None:
        """`matcher`'s verdict on one name: the first member to ask about a name (the rules' `refs:`
        asking about a pushed ref) answers it for every member, from one set built once."""
        verdicts = self._decided.get(name)
        if verdicts is None:
            try:
                verdicts = (self._evaluation or self._build()).decide(name)
            except RuntimeError:  # the shared set ran out of memory: this member asks alone
                return (matcher._solo or matcher._build()).decide(name).get(0)
            if len(self._decided) >= DECIDED_KEPT:
                self._decided.clear()
            self._decided[name] = verdicts
        return verdicts.get(self._owner[id(matcher)])

    def select(self, matcher: Matcher, names: Collection[bytes]) -> dict[bytes, Verdict]:
        owner = self._owner[id(matcher)]
        done = next((d for d in self._done if d[0] is names), None)
        if done is None:
            done = (names, *self._select(names))
            self._done.append(done)
        _, selected, failed = done
        if owner in failed:
            raise failed[owner]
        return selected[owner]

    def _select(self, names: Collection[bytes]) -> tuple[list[dict[bytes, Verdict]], dict[int, Exception]]:
        selected: list[dict[bytes, Verdict]] = [{} for _ in self._members]
        failed: dict[int, Exception] = {}
        evaluation = self._evaluation or self._build()
        exact = evaluation._exact
        match, dirs, below = exact._set.Match, exact._dirs, exact._below
        normalising = evaluation._normal is not None
        plain = not normalising or not evaluation._distinct  # an unchanged name needs no second pass
        for name in names:
            try:
                if plain:  # the common case inline: nothing matches the name or excludes its directory
                    slash = name.rfind(b"/")
                    above: dict[int, int] | None = _NONE
                    if slash >= 0:
                        above = dirs.get(name[:slash])  # None: not seen yet ({}: seen, nothing decided)
                        if above is None:
                            above = below(name[:slash])
                    if not above:
                        hits = match(name)
                        if len(hits) == 1 and hits[0] == 0 and (
                                not normalising or (name.isascii() and name.islower() and b" /" not in name
                                                    and b"./" not in name and not name.endswith((b" ", b".")))):
                            continue  # the test is _unchanged(name), inline: it runs for nearly every name
                verdicts = evaluation.decide(name)
            except RuntimeError:  # the shared set ran out of memory: ask each member alone
                verdicts = {}
                for owner, member in enumerate(self._members):
                    try:
                        verdict = (member._solo or member._build()).decide(name).get(0)
                    except RuntimeError as exc:
                        failed[owner] = exc
                        continue
                    if verdict is not None:
                        verdicts[owner] = verdict
            for owner, verdict in verdicts.items():
                selected[owner][name] = verdict
        return selected, failed

    def _build(self) -> _Evaluation:
        self._evaluation = _Evaluation(self._members)
        return self._evaluation


class _Evaluation:
    """Exact, then normalised: two RE2 passes at most per name, for any number of pattern lists."""

    __slots__ = ("_distinct", "_exact", "_normal", "_normal_owner", "_patterns", "_same")

    def __init__(self, members: Sequence[Matcher]) -> None:
        compiled = [m._compiled for m in members]
        self._patterns = [m.patterns for m in members]
        self._exact = _Side([c["exact"] or [] for c in compiled])
        self._normal_owner = [i for i, c in enumerate(compiled) if c.get("normalized") is not None]
        # per normalising owner: are its normalised patterns its exact ones? (then an unchanged
        # name was already answered by the exact pass)
        self._same = [compiled[i]["normalized"] == compiled[i]["exact"] for i in self._normal_owner]
        self._distinct = not all(self._same)
        self._normal: _Side | None = None
        if self._normal_owner:
            everyone = len(self._normal_owner) == len(members)
            self._normal = (self._exact if everyone and not self._distinct
                            else _Side([compiled[i]["normalized"] or [] for i in self._normal_owner]))

    def decide(self, name: bytes) -> dict[int, Verdict]:
        """owner -> why `name` matches its patterns, for the owners it matches."""
        exact = self._exact.decide(name)
        found = {owner: Verdict(self._patterns[owner][index], False) for owner, index in exact.items()} if exact else {}
        if self._normal is None:
            return found
        normal = name if _unchanged(name) else (_NORMALIZED.get(name) or normalize_path(name))
        if normal == name and not self._distinct:
            return found
        for k, index in self._normal.decide(normal).items():
            owner = self._normal_owner[k]
            if owner in found or (normal == name and self._same[k]):
                continue
            found[owner] = Verdict(self._patterns[owner][index], True)
        return found

"""`deny_secrets: {paths, plugins, baseline, max_file_size, max_push_size}`: no new commit adds a
line holding a secret, as detect-secrets' detectors (its plugins) find them.

Scanned: the lines each new commit adds (engine/rules/content.py), so a key pasted in one commit
and removed in the next is still caught. Findings name commit, path, line and detector, never
the secret. A detect-secrets baseline in the policy's trust domain (the protected ref, never the
change) silences the findings it lists; an inline `pragma: allowlist secret` does not, since the
pusher writes it. Binary files and files over `max_file_size` are skipped and counted; past
`max_push_size` bytes of contents the rule fails closed.

detect-secrets is imported only when a text file is to be scanned. A screen (see _Scanner)
runs the detectors' own patterns once over every new text file; only a file with a line they
match is compared with its first-parent version, and only its added lines they match go
through detect-secrets' plugins and filters, which decide.
"""

from __future__ import annotations

from engine.decision import Outcome
from engine.facts.content import ContentLimit
from engine.rules.content import ContentRule, Touch, is_binary, lines_of, plural, touched, what
from engine.rules.max_file_size import format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator, Sequence
    from typing import Any, NamedTuple

    from engine.change import RefUpdate
    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

# detect-secrets 1.5's detectors of a known credential format, used unless the policy names
# plugins: GitHub's and GitLab's push protection likewise block only such high-confidence
# patterns. Its generic detectors (Base64HighEntropyString, HexHighEntropyString,
# KeywordDetector) and IPPublicDetector may be named in `plugins:`.
FORMAT_PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "CloudantDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "IbmCloudIamDetector",
    "IbmCosHmacDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector", "OpenAIDetector",
    "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector",
    "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
)
GENERIC_PLUGINS = ("Base64HighEntropyString", "HexHighEntropyString", "KeywordDetector", "IPPublicDetector")

# detect-secrets' default heuristic filters, less those a pusher could use to hide a key: the
# inline allowlist comment (the pusher's word) and is_indirect_reference, which drops a whole
# line shaped like `x = f("...")` for every detector; file-name filters never apply to lines.
# None of them calls the network (verification is a filter, and it is not among them).
_FILTERS = (
    "detect_secrets.filters.heuristic.is_sequential_string",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_templated_secret",
    "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
    "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
)
# Detectors that narrow what their patterns match (and so find nothing where none matches).
_NARROWING = frozenset({"JwtTokenDetector"})


class DenySecretsParams(NamedTuple):
    paths: tuple[str, ...] | None = None  # None: every path
    plugins: tuple[str, ...] | None = None  # None: FORMAT_PLUGINS
    baseline: str = ".secrets.baseline"
    max_file_size: int | str = "1MiB"
    max_push_size: int | str = "64MiB"


class Finding(NamedTuple):
    """One secret detect-secrets found: where, and by which detector; its hash only for the baseline."""

    line: int
    detector: str  # the plugin's class name
    kind: str  # the plugin's secret type ("AWS Access Key")
    hashed: str  # detect-secrets' SHA-1 of the secret, as its baseline lists it


class BaselineError(Exception):
    """The baseline file exists but is not a detect-secrets baseline."""


class DenySecrets(ContentRule):
    kind = "deny_secrets"
    Params = DenySecretsParams
    params: DenySecretsParams
    reading = "scan"

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        max_file, max_push = self.caps()
        touches, submodules = touched(facts, updates, self.refs, self.patterns.get("paths"))
        try:
            silenced = self._baseline(facts)
        except BaselineError as exc:
            return self.outcome("error", str(exc), fix=f"fix {facts.trusted_location(self.params.baseline)} "
                                "(detect-secrets scan > .secrets.baseline writes one) on the protected ref")
        news = [t.oid for t in touches]
        try:
            blobs = facts.blob_contents(news, max_blob=max_file, max_total=max_push)
            binary: set[str] = set()
            large: set[str] = set()
            unknown: list[Touch] = []
            texts: dict[str, bytes] = {}  # new blob -> its contents, when text
            for t in touches:
                if t.oid in blobs.over:
                    large.add(t.oid)
                elif t.oid not in blobs.data:
                    unknown.append(t)
                elif t.oid not in texts and t.oid not in binary:
                    data = blobs.data[t.oid]
                    if is_binary(data):
                        binary.add(t.oid)
                    else:
                        texts[t.oid] = data
            scanner = _Scanner(self.params.plugins or FORMAT_PLUGINS, facts.cache_dir()) if texts else None
            screened = scanner.screen(texts) if scanner else {}
            # only a file some line of which could hold a secret is compared with its first parent
            olds = [t.old_oid for t in touches if t.old_oid and screened.get(t.oid) is not None]
            if olds:
                blobs = facts.blob_contents(news + olds, max_blob=max_file, max_total=max_push)
        except ContentLimit as exc:
            return self.over_push_cap(exc)
        todo: dict[tuple[bytes, str, str], list[tuple[int, str]]] = {}  # (path, old, new) -> candidate lines
        for t in touches:
            key = (t.path, t.old_oid, t.oid)
            screen = screened.get(t.oid)
            if scanner is None or screen is None or key in todo:
                continue
            old = blobs.data.get(t.old_oid) if t.old_oid else None
            todo[key] = scanner.candidates(lines_of(texts[t.oid]), screen,
                                           set(lines_of(old)) if old is not None else set())
        scans = scanner.findings(todo) if scanner and any(todo.values()) else {}
        lines_screened = sum(data.count(b"\n") + (not data.endswith(b"\n")) for data in texts.values() if data)
        seen: list[str] = []
        hidden = 0
        paths: list[str] = []
        for t in touches:
            for f in scans.get((t.path, t.old_oid, t.oid), ()):
                name = t.path.decode("utf-8", "backslashreplace")
                if (name, f.hashed, f.kind) in silenced:
                    hidden += 1
                    continue
                seen.append(f"{what(t)}: line {f.line}: {f.kind} ({f.detector}); the secret is not shown")
                paths.append(name)
        for t in unknown:
            seen.append(f"{what(t)}: contents unknown (object {t.oid[:10] or 'not given'})")
        notes = []
        if binary:
            notes.append(f"{plural(len(binary), 'binary file')} skipped")
        if large:
            notes.append(f"{plural(len(large), 'file')} over max_file_size {self.params.max_file_size} skipped "
                         f"(largest {format_size(max(blobs.over[o] for o in large))})")
        if submodules:
            notes.append(f"{plural(submodules, 'submodule entry')} skipped")
        if hidden:
            notes.append(f"{plural(hidden, 'known finding')} silenced by the baseline "
                         f"{facts.trusted_location(self.params.baseline)}")
        note = "; " + "; ".join(notes) if notes else ""
        if not seen:
            return self.outcome("pass", f"no secret in the lines new commits add to "
                                        f"{plural(len(touches), 'new or changed file')} "
                                        f"({plural(lines_screened, 'line')} screened){note}")
        found = len(seen) - len(unknown)
        message = f"{plural(found, 'secret')} in lines new commits add"
        if unknown:
            message += f"; {plural(len(unknown), 'file')} of unknown contents"
        return self.outcome(
            "fail", message + note, seen=seen, paths=paths,
            required="no new commit adds a line holding a secret found by detect-secrets' "
                     + (", ".join(self.params.plugins) if self.params.plugins else "credential-format detectors"),
            fix="revoke the credential (it has left your machine), remove it from every new commit "
                "(git rebase -i, or git filter-repo --replace-text) and push again; a false positive is "
                f"added to the baseline {facts.trusted_location(self.params.baseline)} by an administrator "
                "(detect-secrets scan --baseline, then detect-secrets audit)")

    def _baseline(self, facts: Facts) -> set[tuple[str, str, str]]:
        """(file, hashed secret, type) of each finding the trusted baseline lists and an audit did not
        mark as a real secret (`is_secret: true` never silences)."""
        data = facts.trusted_file(self.params.baseline)
        if data is None:
            return set()
        import json

        where = facts.trusted_location(self.params.baseline)
        try:
            results = json.loads(data)["results"]
            return {(str(name), str(entry["hashed_secret"]), str(entry["type"]))
                    for name, entries in results.items() for entry in entries if entry.get("is_secret") is not True}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BaselineError(f"the baseline {where} is not a detect-secrets baseline "
                                f"({type(exc).__name__}: {exc})") from None


class Screen(NamedTuple):
    """Which lines of a file (0-based) could hold a secret, before knowing which lines were added."""

    hits: frozenset[int]  # lines of printable ASCII some detector pattern matches
    exotic: frozenset[int]  # lines with other bytes: tested line by line once known to be added
    every: bool  # a detector without exact patterns: every added line goes to detect-secrets


class _Scanner:
    """detect-secrets' detectors, as a cheap screen and as the judge.

    Screening: a regex detector (detect-secrets' RegexBasedDetector, or one only narrowing its
    matches) finds nothing in a line none of its patterns matches. All such patterns are joined
    into one RE2 alternation (lookarounds dropped: they only ever narrow a match, so the
    alternation matches wherever a pattern does; MULTILINE keeps ^ and $ per line) and run once
    over every line of printable ASCII of every file, where RE2's \\d, \\w, \\s and case folding
    are Python's; a line a match touches is a hit (a match at any position is found or
    overlapped by the leftmost match the scan reaches first). Other lines, and patterns RE2
    cannot take, are tested with Python's re, line by line. Judging: the candidate lines go
    through detect-secrets' own plugins and filters.
    """

    def __init__(self, plugins: Sequence[str], cache_dir: str | None = None) -> None:
        self._config = {"plugins_used": [{"name": name} for name in plugins],
                        "filters_used": [{"path": path} for path in _FILTERS]}
        data = _screen_data(self._config, cache_dir)
        self.every: bool = data["every"]
        self._python: list[tuple[str, int]] = [(pattern, flags) for pattern, flags in data["python"]]
        self._compiled: list[re.Pattern[str]] | None = None
        self.fast = _re2_compile(data["fast"]) if data["fast"] else None
        # patterns RE2 cannot take, or an alternation that failed: every line is tested line by line
        self.line_by_line = bool(data["slow"]) or (bool(data["fast"]) and self.fast is None)

    @property
    def python(self) -> list[re.Pattern[str]]:
        """The detectors' patterns in Python's re, compiled when a line needs them: most pushes
        have no candidate line, and `re` costs ~8 ms to import."""
        if self._compiled is None:
            import re

            self._compiled = [re.compile(pattern, flags) for pattern, flags in self._python]
        return self._compiled

    def screen(self, files: dict[str, bytes]) -> dict[str, Screen | None]:
        """For each text file (by blob), the lines that could hold a secret; None: none can.

        All files at once, as one text (an empty line between files, so no match joins two):
        trailing white space is stripped from every line, as detect-secrets reads a line; lines
        holding bytes other than printable ASCII and tab are set aside for Python's re; the
        alternation runs once, and Python only looks at where it matched.
        """
        if self.every or self.line_by_line:
            return {oid: Screen(frozenset(), frozenset(range(len(lines_of(data)))), self.every)
                    for oid, data in files.items()}
        import bisect
        from itertools import accumulate

        oids = list(files)
        bodies = [data.removesuffix(b"\n") for data in files.values()]
        firsts: list[int] = []  # the line of the whole text each file starts at
        at = 0
        for body in bodies:
            firsts.append(at)
            at += body.count(b"\n") + 2
        lines = [line.rstrip(_TRAILING) for line in b"\n\n".join(bodies).split(b"\n")]
        text = b"\n".join(lines)
        exotic_spans: list[tuple[int, int]] = []
        if text.translate(None, _PLAIN_BYTES):  # some byte is not printable ASCII, tab or newline
            import re

            exotic_spans = [m.span() for m in re.finditer(rb"[^\t\n\x20-\x7e]", text)]
        hit_spans = [m.span() for m in self.fast.finditer(text)] if self.fast is not None else []
        if not exotic_spans and not hit_spans:  # the usual push: no line could hold a secret
            return {oid: None for oid in oids}
        # line k of the text ends at breaks[k]
        breaks = [end + k for k, end in enumerate(accumulate(map(len, lines[:-1])))]

        def lines_at(start: int, end: int) -> Iterator[tuple[str, int]]:
            for line in range(bisect.bisect_left(breaks, start), bisect.bisect_left(breaks, max(end - 1, start)) + 1):
                n = bisect.bisect_right(firsts, line) - 1
                yield oids[n], line - firsts[n]

        exotic: dict[str, set[int]] = {}
        for start, end in exotic_spans:
            for oid, i in lines_at(start, end):
                exotic.setdefault(oid, set()).add(i)
        hits: dict[str, set[int]] = {}
        for start, end in hit_spans:
            for oid, i in lines_at(start, end):
                hits.setdefault(oid, set()).add(i)
        return {oid: Screen(frozenset(hits.get(oid, ())), frozenset(exotic.get(oid, ())), False)
                if oid in hits or oid in exotic else None for oid in oids}

    def candidates(self, lines: list[bytes], screen: Screen, old: set[bytes]) -> list[tuple[int, str]]:
        """(line number, line) of the added lines (those `old` does not hold) to judge."""
        found = []
        for i, raw in enumerate(lines):
            if raw in old or not (screen.every or i in screen.hits or i in screen.exotic):
                continue
            line = raw.decode("utf-8", "replace").rstrip()
            if screen.every or i in screen.hits or any(p.search(line) for p in self.python):
                found.append((i + 1, line))
        return found

    def findings(self, files: dict[Any, list[tuple[int, str]]]) -> dict[Any, list[Finding]]:
        """detect-secrets' findings in each file's candidate lines; the key's first item is the
        path (its filters look at it)."""
        from detect_secrets.core.scan import _process_line_based_plugins
        from detect_secrets.settings import get_plugins, transient_settings

        _quiet()
        found: dict[Any, list[Finding]] = {}
        with transient_settings(self._config):
            types = {d.secret_type: type(d).__name__ for d in get_plugins()}
            for key, lines in files.items():
                if not lines:
                    continue
                filename = key[0].decode("utf-8", "backslashreplace")
                found[key] = sorted({Finding(s.line_number, types.get(s.type, s.type), s.type, s.secret_hash)
                                     for s in _process_line_based_plugins(lines, filename)})
        return found


_SCREEN_FORMAT = "1"  # bump when what _screen_data stores changes


def _screen_data(config: dict[str, Any], cache_dir: str | None) -> dict[str, Any]:
    """What the screen needs from detect-secrets' detectors: whether one has no exact patterns
    (`every`), their patterns for Python's re (`python`, MULTILINE), those RE2 cannot take
    (`slow`) and the RE2 alternation of the others (`fast`).

    Importing detect-secrets costs ~150 ms, most pushes have no line it could match, and its
    patterns change only with its version: so the hook keeps them in its cache directory
    (administrator-owned), one file per detect-secrets version and plugin list; a missing,
    unreadable or foreign file is derived again and rewritten, never trusted. The file holds its
    whole key (format, version, plugins and filters), compared exactly; its name is a checksum
    of the key (zlib: hashlib and json would cost every push with a text file ~8 ms to import).
    """
    import os
    import zlib

    from engine.quickjson import dumps, loads

    path = key = None
    version = _detect_secrets_version()
    if cache_dir and version:
        key = dumps([_SCREEN_FORMAT, version, config], sort_keys=True)
        path = os.path.join(cache_dir, f"detect-secrets-screen-{zlib.crc32(key.encode()):08x}-{len(key)}.json")
        try:
            with open(path, "rb") as f:
                data: dict[str, Any] = loads(f.read())
            if isinstance(data, dict) and data.get("key") == key:
                return data
        except (OSError, ValueError):
            pass
    data = _derive_screen(config)
    if path:
        try:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(dumps({**data, "key": key}))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return data


def _derive_screen(config: dict[str, Any]) -> dict[str, Any]:
    import re

    from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
    from detect_secrets.settings import get_plugins, transient_settings

    _quiet()
    every = False
    patterns: list[re.Pattern[str]] = []
    with transient_settings(config):
        for d in get_plugins():
            cls = type(d)
            if (isinstance(d, RegexBasedDetector) and cls.analyze_line is BasePlugin.analyze_line
                    and (cls.analyze_string is RegexBasedDetector.analyze_string or cls.__name__ in _NARROWING)):
                patterns += d.denylist
            else:
                every = True  # a detector that may find what no pattern matches
    fast, slow = [], []
    for pattern in patterns:
        form = _re2_form(pattern)
        if form is None:
            slow.append([pattern.pattern, pattern.flags | re.MULTILINE])
        else:
            fast.append(form)
    return {"every": every, "python": [[p.pattern, p.flags | re.MULTILINE] for p in patterns], "slow": slow,
            "fast": "(?m)" + "|".join(fast) if fast else None}


def _detect_secrets_version() -> str | None:
    """detect-secrets' version, read from its package without importing it (None if unknown):
    the value of its `VERSION = '...'` line."""
    import os

    from engine.resources import package_folder

    folder = package_folder("detect_secrets")
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, "__version__.py"), encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError):
        return None
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        value = value.strip()
        if name.strip() == "VERSION" and equals and len(value) > 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1]
    return None


def _quiet() -> None:
    import logging

    logging.getLogger("detect-secrets").disabled = True  # its log lines would reach the pusher


def _re2_form(pattern: re.Pattern[str]) -> str | None:
    """An RE2 pattern matching wherever `pattern` does within a line of printable ASCII, or None."""
    import re

    if not _joinable(pattern.pattern):
        return None
    if pattern.flags & re.VERBOSE and any(c.isspace() or c == "#" for c in pattern.pattern):
        return None  # VERBOSE matters only with white space or comments in the pattern
    body = _without_lookarounds(pattern.pattern)
    body = re.sub(_LONG_REPEAT, lambda m: "{" + m.group(1) + ",}", body)  # RE2 counts to 1000: a superset
    form = ("(?i:" if pattern.flags & re.IGNORECASE else "(?:") + body + ")"
    return form if _re2_compile(form) is not None else None


def _re2_compile(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would write to the pusher's terminal
    try:
        return re2.compile(pattern.encode(), options)
    except re2.error:
        return None


_LONG_REPEAT = r"(?<!\\)\{([0-9]+),([0-9]{4,})\}"
_PLAIN_BYTES = bytes([9, 10, *range(0x20, 0x7F)])  # printable ASCII, tab, newline
_TRAILING = b" \t\r\x0b\x0c"  # stripped from the end of each line, as detect-secrets reads one


def _without_lookarounds(pattern: str) -> str:
    for start, end in reversed(_groups(pattern, r"\(\?<?[=!]")):
        pattern = pattern[:start] + pattern[end:]
    return pattern


_LINE_BOUND = r"\\[AZz]"
_SEES_LF = ("\\s", "\\W", "\\D", "\\n", "[^", ".")


def _joinable(pattern: str) -> bool:
    """Whether a pattern matches within a line of the joined text wherever it matches the line
    alone: no string anchors, and no negative lookaround that a line break could satisfy."""
    import re

    if re.search(_LINE_BOUND, pattern):
        return False
    return not any(any(token in body for token in _SEES_LF) for body in _negative_lookarounds(pattern))


def _negative_lookarounds(pattern: str) -> list[str]:
    return [pattern[start:end] for start, end in _groups(pattern, r"\(\?<?!")]


def _groups(pattern: str, opening: str) -> list[tuple[int, int]]:
    """(start, end) of each group that starts with `opening`, nested groups included (escapes and
    character classes skipped)."""
    import re

    spans = []
    for start in [m.start() for m in re.finditer(opening, pattern)]:
        depth, i, in_class = 0, start, False
        while i < len(pattern):
            c = pattern[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        spans.append((start, i + 1))
    return spans

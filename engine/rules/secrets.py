"""`deny_secrets: {paths, plugins, baseline, max_file_size, max_push_size}`: no new commit adds a
line holding a secret, as detect-secrets' detectors (its plugins) find them.

Scanned: the lines each new commit adds (engine/rules/content.py), so a key pasted in one commit
and removed in the next is still caught. Findings name commit, path, line and detector, never
the secret. A detect-secrets baseline in the policy's trust domain (the protected ref, never the
change) silences the findings it lists; an inline `pragma: allowlist secret` does not, since the
pusher writes it. Binary files and files over `max_file_size` are skipped and counted; past
`max_push_size` bytes of contents the rule fails closed.

detect-secrets is imported only when an added line is to be scanned. Lines are first tested
with each regex detector's own patterns (compiled per line with MULTILINE, over all added lines of
a file at once): a regex detector finds nothing in a line none of its patterns matches, so
only the lines some pattern matches go through detect-secrets' plugins and filters.
"""

from __future__ import annotations

import re

from engine.decision import Outcome
from engine.facts.content import ContentLimit
from engine.rules.base import Rule
from engine.rules.content import Touch, added_lines, is_binary, plural, touched, what
from engine.rules.max_file_size import format_size, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
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


class DenySecrets(Rule):
    kind = "deny_secrets"
    Params = DenySecretsParams
    params: DenySecretsParams
    pattern_fields = ("paths",)
    reads_paths = True

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        max_file, max_push = parse_size(self.params.max_file_size), parse_size(self.params.max_push_size)
        touches, submodules = touched(facts, updates, self.refs, self.patterns.get("paths"))
        wanted = [t.oid for t in touches] + [t.old_oid for t in touches if t.old_oid]
        try:
            blobs = facts.blob_contents(wanted, max_blob=max_file, max_total=max_push)
        except ContentLimit as exc:
            return self.outcome(
                "fail", f"cannot scan the new files: {exc} (max_push_size {self.params.max_push_size})",
                required=f"the files this rule scans in one push come to at most max_push_size "
                         f"{self.params.max_push_size}",
                fix="push fewer commits at a time; or an administrator raises max_push_size")
        try:
            silenced = self._baseline(facts)
        except BaselineError as exc:
            return self.outcome("error", str(exc), fix=f"fix {facts.trusted_location(self.params.baseline)} "
                                "(detect-secrets scan > .secrets.baseline writes one) on the protected ref")
        binary: set[str] = set()
        large: set[str] = set()
        unknown: list[Touch] = []
        scans: dict[tuple[bytes, str, str], list[Finding]] = {}  # (path, old, new) -> findings
        todo: dict[tuple[bytes, str, str], list[tuple[int, str]]] = {}
        lines_scanned = 0
        for t in touches:
            key = (t.path, t.old_oid, t.oid)
            if key in scans or key in todo:
                continue
            if t.oid in blobs.over:
                large.add(t.oid)
                scans[key] = []
                continue
            data = blobs.data.get(t.oid)
            if data is None:
                unknown.append(t)
                scans[key] = []
                continue
            if is_binary(data):
                binary.add(t.oid)
                scans[key] = []
                continue
            added = added_lines(data, blobs.data.get(t.old_oid) if t.old_oid else None)
            lines_scanned += len(added)
            todo[key] = [(n, line.decode("utf-8", "replace")) for n, line in added]
        if any(todo.values()):
            scans.update(scan(todo, self.params.plugins or FORMAT_PLUGINS))
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
            return self.outcome("pass", f"no secret in {plural(lines_scanned, 'added line')} of "
                                        f"{plural(len(touches), 'new or changed file')}{note}")
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


def scan(files: dict[Any, list[tuple[int, str]]], plugins: Sequence[str]) -> dict[Any, list[Finding]]:
    """Findings of detect-secrets' `plugins` in each file's added (line number, line) pairs; the
    key's first item is the path (detect-secrets' filters look at it)."""
    import logging

    from detect_secrets.core.scan import _process_line_based_plugins
    from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
    from detect_secrets.settings import get_plugins, transient_settings

    logging.getLogger("detect-secrets").disabled = True  # its log lines would reach the pusher
    found: dict[Any, list[Finding]] = {key: [] for key in files}
    config = {"plugins_used": [{"name": name} for name in plugins],
              "filters_used": [{"path": path} for path in _FILTERS]}
    with transient_settings(config):
        detectors = get_plugins()
        by_type = {d.secret_type: type(d).__name__ for d in detectors}
        patterns: list[re.Pattern[str]] | None = []
        for d in detectors:
            cls = type(d)
            exact = (isinstance(d, RegexBasedDetector) and cls.analyze_line is BasePlugin.analyze_line
                     and (cls.analyze_string is RegexBasedDetector.analyze_string or cls.__name__ in _NARROWING))
            if not exact or patterns is None:
                patterns = None  # a detector that may find what no pattern matches: every line goes to it
                continue
            patterns += list(d.denylist)
        for key, hits in _candidates(files, None if patterns is None else _probes(patterns)).items():
            filename = key[0].decode("utf-8", "backslashreplace")
            for secret in _process_line_based_plugins(hits, filename):
                found[key].append(Finding(secret.line_number, by_type.get(secret.type, secret.type), secret.type,
                                          secret.secret_hash))
    return {key: sorted(set(findings)) for key, findings in found.items()}


class _Probe(NamedTuple):
    """One detector pattern as a line filter: `python` (MULTILINE) always; `joined` whether it may
    run over many lines joined with LF; `fast` an RE2 form for lines of printable ASCII, or None."""

    python: re.Pattern[str]
    joined: bool
    fast: Any


def _probes(patterns: Sequence[re.Pattern[str]]) -> list[_Probe]:
    """Each pattern as a line filter. The RE2 form drops lookarounds, which only ever narrow a
    match, so it matches wherever the pattern does; on printable ASCII (and LF) RE2's \\d, \\w,
    \\s and case folding are Python's. A pattern RE2 cannot compile (or VERBOSE) has none."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would write to the pusher's terminal
    probes = []
    for rx in patterns:
        joined = _joinable(rx.pattern)
        fast = None
        if joined and not rx.flags & re.VERBOSE:
            flags = "(?m" + ("i" if rx.flags & re.IGNORECASE else "") + ")"
            try:
                fast = re2.compile((flags + _without_lookarounds(rx.pattern)).encode(), options)
            except re2.error:
                fast = None
        probes.append(_Probe(re.compile(rx.pattern, rx.flags | re.MULTILINE), joined, fast))
    return probes


def _candidates(files: dict[Any, list[tuple[int, str]]], probes: list[_Probe] | None
                ) -> dict[Any, list[tuple[int, str]]]:
    """The (rstripped) lines of each file some detector could find a secret in: all of them when a
    detector has no exact patterns (probes None); else those a pattern matches in.

    The lines are joined with LF into one text, and each pattern (MULTILINE, so ^ and $ keep
    their per-line meaning) runs over it once, through RE2 where it has an RE2 form (then over
    the lines of printable ASCII, the others by Python's re line by line); a line any match
    touches is a candidate. A pattern whose meaning could change at a line break (\\A, \\Z, or
    a negative lookaround that could see the LF) runs line by line instead.
    """
    stripped = {key: [(n, line.rstrip()) for n, line in lines] for key, lines in files.items()}
    if probes is None:
        return {key: lines for key, lines in stripped.items() if lines}
    owners = [(key, index) for key, lines in stripped.items() for index in range(len(lines))]
    parts = [line for lines in stripped.values() for _, line in lines]
    plain = [i for i, line in enumerate(parts) if _PLAIN.fullmatch(line)]
    other = [i for i, line in enumerate(parts) if not _PLAIN.fullmatch(line)] if len(plain) < len(parts) else []
    every = list(range(len(parts)))
    plain_text = _Joined(parts, plain)
    plain_bytes = plain_text.text.encode("ascii")  # RE2 reads bytes; ASCII offsets are the same
    every_text = plain_text if len(plain) == len(parts) else _Joined(parts, every)
    marked: set[int] = set()
    for probe in probes:
        if probe.fast is not None:
            marked.update(plain_text.touched(probe.fast.finditer(plain_bytes)))
            marked.update(i for i in other if probe.python.search(parts[i]))
        elif probe.joined:
            marked.update(every_text.touched(probe.python.finditer(every_text.text)))
        else:
            marked.update(i for i in every if probe.python.search(parts[i]))
    hits: dict[Any, list[tuple[int, str]]] = {}
    for i in sorted(marked):
        key, index = owners[i]
        hits.setdefault(key, []).append(stripped[key][index])
    return hits


class _Joined:
    """Chosen lines joined with LF, and where each starts."""

    def __init__(self, parts: list[str], chosen: list[int]) -> None:
        self.chosen = chosen
        self.starts: list[int] = []
        at = 0
        for i in chosen:
            self.starts.append(at)
            at += len(parts[i]) + 1
        self.text = "\n".join(parts[i] for i in chosen)

    def touched(self, matches: Iterable[Any]) -> set[int]:
        """Indexes (into parts) of the lines the matches touch. A match at any position is found
        or overlapped by the leftmost match scanning reaches first, so every line holding a match
        is touched."""
        import bisect

        found: set[int] = set()
        for match in matches:
            first = bisect.bisect_right(self.starts, match.start()) - 1
            last = bisect.bisect_right(self.starts, max(match.end() - 1, match.start())) - 1
            found.update(self.chosen[k] for k in range(first, last + 1))
        return found


_PLAIN = re.compile(r"[\t\x20-\x7e]*")


def _without_lookarounds(pattern: str) -> str:
    for start, end in reversed(_groups(pattern, r"\(\?<?[=!]")):
        pattern = pattern[:start] + pattern[end:]
    return pattern


_LINE_BOUND = re.compile(r"\\[AZz]")
_SEES_LF = ("\\s", "\\W", "\\D", "\\n", "[^", ".")


def _joinable(pattern: str) -> bool:
    """Whether a pattern matches within a line of the joined text wherever it matches the line
    alone: no string anchors, and no negative lookaround that a line break could satisfy."""
    if _LINE_BOUND.search(pattern):
        return False
    return not any(any(token in body for token in _SEES_LF) for body in _negative_lookarounds(pattern))


def _negative_lookarounds(pattern: str) -> list[str]:
    return [pattern[start:end] for start, end in _groups(pattern, r"\(\?<?!")]


def _groups(pattern: str, opening: str) -> list[tuple[int, int]]:
    """(start, end) of each group that starts with `opening`, nested groups included (escapes and
    character classes skipped)."""
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

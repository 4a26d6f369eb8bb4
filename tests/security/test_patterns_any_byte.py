"""No pattern construct stops at any byte: a property test against a small reference matcher.

Path components hold arbitrary bytes (everything but NUL and '/': line breaks, C0 and C1
controls, invalid UTF-8); patterns are built from literal bytes, '?', '*', '**', brackets and
escapes. The reference below interprets git's rules directly (recursive wildmatch on bytes,
basename/pathname, excluded parent directories, last match wins); changegate's exact mode
must agree with it, and its normalised mode may only add matches.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.policy.patterns import Matcher, MatcherGroup, _unchanged, compile_patterns, normalize_path

SLASH, STAR, BACKSLASH = 0x2F, 0x2A, 0x5C
SPECIAL = b"*?[\\"


# --------------------------------------------------------------------------- the reference

def wildmatch(p: bytes, t: bytes, *, pathname: bool, after: int = SLASH) -> bool:
    """git's wildmatch semantics, interpreted recursively (exponential, fine for short inputs);
    `after` is the pattern byte before `p` (a '/' at the start of the pattern)."""
    if not p:
        return not t
    c = p[0]
    if c == STAR:
        j = len(p) - len(p.lstrip(b"*"))
        rest = p[j:]
        if pathname and j >= 2 and after == SLASH and (not rest or rest[0] == SLASH or rest[:2] == b"\\/"):
            if rest[:1] == b"/" and wildmatch(rest[1:], t, pathname=True):
                return True  # "**/" matching no directory
            return any(wildmatch(rest, t[k:], pathname=True, after=STAR) for k in range(len(t) + 1))
        return any(wildmatch(rest, t[k:], pathname=pathname, after=STAR) for k in range(len(t) + 1)
                   if not (pathname and SLASH in t[:k]))
    if not t:
        return False
    if c == BACKSLASH:
        return len(p) > 1 and p[1] == t[0] and wildmatch(p[2:], t[1:], pathname=pathname, after=p[1])
    if c == ord("?"):
        return t[0] != SLASH and wildmatch(p[1:], t[1:], pathname=pathname, after=c)
    if c == ord("["):
        end = p.index(b"]", 2)  # the generator only writes simple brackets
        negated, members = p[1] in b"!^", p[1 + (p[1] in b"!^"):end]
        inside = any(lo <= t[0] <= hi for lo, hi in _ranges(members))
        return inside != negated and t[0] != SLASH and wildmatch(p[end + 1:], t[1:], pathname=pathname, after=0x5D)
    return c == t[0] and wildmatch(p[1:], t[1:], pathname=pathname, after=c)


def _ranges(members: bytes) -> list[tuple[int, int]]:
    out, i = [], 0
    while i < len(members):
        if i + 2 < len(members) and members[i + 1] == ord("-"):
            out.append((members[i], members[i + 2]))
            i += 3
        else:
            out.append((members[i], members[i]))
            i += 1
    return out


def pattern_matches(body: bytes, name: bytes) -> bool:
    if b"/" not in body:
        return wildmatch(body, name.rsplit(b"/", 1)[-1], pathname=False)
    body = body.removeprefix(b"/")
    prefix = next((i for i, c in enumerate(body) if c in SPECIAL), len(body))
    return name[:prefix] == body[:prefix] and wildmatch(body[prefix:], name[prefix:], pathname=True)


def reference(patterns: list[bytes], path: bytes) -> bool:
    return deciding(patterns, path) is not None


def deciding(patterns: list[bytes], path: bytes) -> bytes | None:
    """The pattern that makes `path` match (its topmost excluded directory's, else its own last
    matching one), or None."""
    parsed = [(p, p.startswith(b"!"), p.endswith(b"/"), p.removeprefix(b"!").removesuffix(b"/")) for p in patterns]

    def last(name: bytes, *, directory: bool) -> bytes | None:
        for raw, negative, dir_only, body in reversed(parsed):
            if (directory or not dir_only) and pattern_matches(body, name):
                return None if negative else raw
        return None

    parts = path.split(b"/")
    for k in range(1, len(parts)):
        found = last(b"/".join(parts[:k]), directory=True)
        if found is not None:
            return found
    return last(path, directory=False)


# --------------------------------------------------------------------------- generators

ANY_BYTE = st.integers(1, 255).filter(lambda b: b != SLASH).map(lambda b: bytes([b]))
LITERAL = st.one_of(
    st.sampled_from([b"a", b"b", b"\n", b"\r", b"\x85", b"\xc2\x85", b"\xe2\x80\xa8", b"\xff"]),
    ANY_BYTE.filter(lambda b: b not in SPECIAL + b"!# ").map(lambda b: b),
    ANY_BYTE.map(lambda b: b"\\" + b))  # any byte, escaped
BRACKET_MEMBER = ANY_BYTE.filter(lambda b: b not in b"]\\![^-")


@st.composite
def bracket(draw: st.DrawFn) -> bytes:
    lo, hi = sorted([draw(BRACKET_MEMBER), draw(BRACKET_MEMBER)])
    members = draw(st.sampled_from([lo, lo + hi, lo + b"-" + hi]))
    return b"[" + draw(st.sampled_from([b"", b"!", b"^"])) + members + b"]"


TOKEN = st.one_of(LITERAL, LITERAL, st.just(b"?"), st.just(b"*"), st.just(b"**"), st.just(b"/"), bracket())


@st.composite
def pattern(draw: st.DrawFn) -> bytes:
    body = b"".join(draw(st.lists(TOKEN, min_size=1, max_size=6)))
    body = body.strip(b"/") or b"a"
    return draw(st.sampled_from([b"", b"!"])) + draw(st.sampled_from([b"", b"/"])) + body + \
        draw(st.sampled_from([b"", b"/"]))


@st.composite
def path_like(draw: st.DrawFn, patterns: list[bytes]) -> bytes:
    """A path of arbitrary-byte components, often shaped like one of the patterns."""
    if patterns and draw(st.booleans()):
        text = draw(st.sampled_from(patterns)).removeprefix(b"!").strip(b"/")
        for token, fill in ((b"**", b"x/y"), (b"*", b"\n"), (b"?", b"\x01")):
            text = text.replace(token, fill)
        text = text.replace(b"\\", b"")
        parts = [p for p in text.split(b"/") if p and b"[" not in p] or [b"a"]
    else:
        parts = []
    extra = draw(st.lists(st.lists(ANY_BYTE, min_size=1, max_size=3).map(b"".join), max_size=3))
    at = draw(st.integers(0, len(parts)))
    return b"/".join([*parts[:at], *extra, *parts[at:]] or [b"a"])


@st.composite
def examples(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    patterns = draw(st.lists(pattern(), min_size=1, max_size=4))
    return patterns, draw(st.lists(path_like(patterns), min_size=1, max_size=8))


@settings(max_examples=400, deadline=None, database=None)
@given(examples())
def test_any_byte_in_any_component_matches_like_the_reference(example: tuple[list[bytes], list[bytes]]) -> None:
    patterns, paths = example
    texts = [p.decode("utf-8", "surrogateescape") for p in patterns]
    exact = Matcher(compile_patterns(texts), texts)
    normalized = Matcher(compile_patterns(texts, normalize=True), texts)
    for path in paths:
        expected = reference(patterns, path)
        assert exact.match(path) is expected, (patterns, path)
        assert normalized.match(path) or not expected, (patterns, path)


# --------------------------------------------------------------------------- ref names

C0 = [chr(c) for c in [*range(1, 0x20), 0x7F]]
OTHER = [chr(c) for c in range(0x80, 0xA0)] + ["\u2028", "\u2029"]


def test_git_refuses_c0_controls_in_ref_names_but_allows_c1_and_unicode_separators() -> None:
    def valid(name: str) -> bool:
        return subprocess.run(["git", "check-ref-format", f"refs/heads/a{name}b"], check=False).returncode == 0

    assert not any(valid(c) for c in C0)
    assert all(valid(c) for c in OTHER)


@pytest.mark.parametrize("char", C0 + OTHER, ids=lambda c: f"U+{ord(c):04X}")
def test_ref_patterns_match_ref_names_holding_any_control_character(char: str) -> None:
    patterns = ["refs/heads/guarded/**", "refs/tags/v*", "refs/heads/x?y/*", "refs/**/frozen"]
    refs = Matcher(compile_patterns(patterns), patterns)
    one_byte = "x" if len(char.encode()) > 1 else char  # '?' is one byte, as in git
    for name in (f"refs/heads/guarded/{char}", f"refs/heads/guarded/a{char}b/c{char}", f"refs/tags/v1{char}",
                 f"refs/tags/{char}v", f"refs/heads/x{one_byte}y/{char}", f"refs/heads/a{char}b/frozen"):
        expected = not name.startswith("refs/tags/" + char)
        assert refs.match(name.encode()) is expected, name


# --------------------------------------------------------------------------- many lists at once

@st.composite
def grouped_examples(draw: st.DrawFn) -> tuple[list[list[bytes]], list[bytes]]:
    lists = draw(st.lists(st.lists(pattern(), min_size=1, max_size=4), min_size=2, max_size=5))
    return lists, draw(st.lists(path_like([p for patterns in lists for p in patterns]), min_size=1, max_size=12))


@settings(max_examples=300, deadline=None, database=None)
@given(grouped_examples())
@example(([[b"d/", b"*.x"], [b"*.x"], [b"!d/a.x", b"d/"]], [b"d/a.x", b"e/a.x", b"d"]))  # an excluded directory decides
def test_a_group_of_pattern_lists_selects_what_each_list_decides_alone(
        example: tuple[list[list[bytes]], list[bytes]]) -> None:
    """One RE2 pass for many rules (MatcherGroup) keeps each rule's own git semantics: its last
    match wins, its excluded directories decide what lies below, others' patterns never leak in."""
    lists, paths = example
    texts = [[p.decode("utf-8", "surrogateescape") for p in patterns] for patterns in lists]
    grouped = [Matcher(compile_patterns(t, normalize=k % 2 == 1), t) for k, t in enumerate(texts)]
    alone = [Matcher(compile_patterns(t, normalize=k % 2 == 1), t) for k, t in enumerate(texts)]
    group = MatcherGroup(grouped)
    for k in range(len(lists)):  # one name at a time, as the rules' `refs:` ask (group.decide)
        for path in paths:
            assert grouped[k].decide(path) == alone[k].decide(path), (lists, k, path)
    group.forget()
    for k, patterns in enumerate(lists):
        selected = grouped[k].select(paths)
        for path in paths:
            assert selected.get(path) == alone[k].decide(path), (lists, k, path)
            assert grouped[k].decide(path) == selected.get(path), (lists, k, path)
            if k % 2 == 0:
                verdict = selected.get(path)
                expected = deciding(patterns, path)
                assert (verdict and verdict.pattern.encode("utf-8", "surrogateescape")) == expected, (patterns, path)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.lists(st.one_of(ANY_BYTE, st.sampled_from([b"/", b" ", b".", b"A", b"a"])), max_size=12).map(b"".join))
def test_the_quick_unchanged_test_never_claims_a_name_normalisation_would_change(name: bytes) -> None:
    """The group's fast path skips the normalised pass for names _unchanged() vouches for."""
    if _unchanged(name):
        assert normalize_path(name) == name, name
